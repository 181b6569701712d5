//! Pieces of one render, encoded apart (`render --chunk-seconds`), joined into the output
//! without re-encoding:
//!
//! `filesrc ! qtdemux|matroskademux ─┐`
//! `filesrc ! qtdemux|matroskademux ─┼ concat ! <h264parse|h265parse> ! [capssetter] ! mux ! filesink`
//! `...                      ─┘                          appsrc(source audio) ! queue ! mux`
//!
//! concat plays its pieces in turn and starts each where the one before ended, so the
//! timestamps run on without a gap; the audio is pushed once, whole, from the source. The
//! stereo metadata is written as `Encoder` writes it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;

use super::codec::Codec;
use super::{Container, EncodeError, chain, media_failure, mend_stereo_tags, wait_for_end};
use crate::fsutil::TempOutput;
use crate::layout::Layout;
use crate::media::{self, MediaError};

pub struct Joiner {
    pipeline: gst::Pipeline,
    audio: Option<gst_app::AppSrc>,
    container: Container,
    layout: Layout,
    temp: Option<TempOutput>,
    final_path: PathBuf,
}

impl Joiner {
    /// Starts joining `pieces` (files of one codec in the output's container, in order, each with where
    /// its first frame goes on the output's timeline) into `path`; `audio_caps`: the
    /// source audio to push with [`Self::push_audio`].
    pub fn open(
        path: &Path,
        pieces: &[(PathBuf, u64)],
        layout: Layout,
        audio_caps: Option<&gst::Caps>,
    ) -> Result<Self, EncodeError> {
        let container = Container::from_path(path)?;
        let media_err = |cause: MediaError| EncodeError::Media {
            path: path.into(),
            cause,
        };
        media::init().map_err(media_err)?;
        let files: Vec<PathBuf> = pieces.iter().map(|(p, _)| p.clone()).collect();
        let codec = pieces_codec(&files).map_err(media_err)?;
        let temp = TempOutput::create(path).map_err(|e| EncodeError::NotWritable {
            path: path.into(),
            cause: e,
        })?;
        let pipeline = gst::Pipeline::with_name("stereosplat-join");
        let err = |e: gst::glib::BoolError| media_err(MediaError::Other(e.to_string()));
        let concat = media::make("concat").map_err(media_err)?;
        // Each piece is placed where its first frame was in the source (below), not where
        // the piece before ended: a container's rounding of each piece's end (Matroska
        // keeps milliseconds) would add up over the pieces.
        concat.set_property("adjust-base", false);
        let parse = media::make(match codec {
            Codec::H264 => "h264parse",
            Codec::H265 => "h265parse",
        })
        .map_err(media_err)?;
        let mux = chain::muxer(container).map_err(media_err)?;
        let sink = media::make("filesink").map_err(media_err)?;
        sink.set_property("location", temp.path().to_string_lossy().as_ref());
        let mut tail = vec![concat.clone(), parse];
        if let Some(setter) = chain::stereo_caps(container, codec, layout).map_err(media_err)? {
            tail.push(setter);
        }
        tail.push(mux.clone());
        tail.push(sink);
        pipeline.add_many(tail.iter()).map_err(err)?;
        media::link_many(&tail.iter().collect::<Vec<_>>()).map_err(media_err)?;
        // concat plays its sink pads in the order they were requested: one per piece, in
        // order, each linked when its demuxer exposes the video.
        for (piece, start) in pieces {
            let src = media::make("filesrc").map_err(media_err)?;
            src.set_property("location", piece.to_string_lossy().as_ref());
            let demux = media::make(demuxer(piece)).map_err(media_err)?;
            let queue = media::make("queue").map_err(media_err)?;
            pipeline.add_many([&src, &demux, &queue]).map_err(err)?;
            src.link(&demux).map_err(err)?;
            let into = concat
                .request_pad_simple("sink_%u")
                .ok_or_else(|| media_err(MediaError::Other("concat gave no sink pad".into())))?;
            into.set_offset(i64::try_from(*start).unwrap_or(i64::MAX));
            queue
                .static_pad("src")
                .expect("queue src")
                .link(&into)
                .map_err(|e| media_err(MediaError::Other(format!("{e:?}"))))?;
            let queue_weak = queue.downgrade();
            demux.connect_pad_added(move |_, pad| {
                if let Some(queue) = queue_weak.upgrade() {
                    let sink = queue.static_pad("sink").expect("queue sink");
                    if !sink.is_linked() {
                        let _ = pad.link(&sink);
                    }
                }
            });
        }
        let audio = match audio_caps {
            Some(caps) => Some(chain::add_audio(&pipeline, &mux, caps, true).map_err(media_err)?),
            None => None,
        };
        pipeline.set_state(gst::State::Playing).map_err(|_| {
            let bus = pipeline.bus().expect("bus");
            let cause = media::poll_bus(&bus)
                .err()
                .unwrap_or_else(|| MediaError::Other("the join refused to start".into()));
            let _ = pipeline.set_state(gst::State::Null);
            media_err(cause)
        })?;
        Ok(Self {
            pipeline,
            audio,
            container,
            layout,
            temp: Some(temp),
            final_path: path.into(),
        })
    }

    /// Pushes source audio (on the output's timeline); waits while a few MB are queued.
    pub fn push_audio(&mut self, buffer: gst::Buffer) -> Result<(), EncodeError> {
        let bus = self.pipeline.bus().expect("bus");
        media::poll_bus(&bus).map_err(|cause| media_failure(&self.final_path, cause))?;
        if let Some(src) = &self.audio {
            src.push_buffer(buffer).map_err(|flow| EncodeError::Flow {
                path: self.final_path.clone(),
                flow,
            })?;
        }
        Ok(())
    }

    /// Waits for the last piece to be written, mends the stereo metadata and gives the
    /// file its final name.
    pub fn finish(mut self) -> Result<PathBuf, EncodeError> {
        if let Some(a) = &self.audio {
            let _ = a.end_of_stream();
        }
        // A join copies at disk speed: an hour of 4K is a few minutes at most.
        wait_for_end(&self.pipeline, &self.final_path, Duration::from_secs(3600))?;
        let temp = self.temp.take().expect("finish runs once");
        mend_stereo_tags(self.container, self.layout, temp.path(), &self.final_path);
        temp.persist(&self.final_path)
            .map_err(|e| EncodeError::NotWritable {
                path: self.final_path.clone(),
                cause: e,
            })?;
        Ok(self.final_path.clone())
    }
}

impl Drop for Joiner {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// The codec of the pieces, which must all share it (workers on machines with different
/// encoders would not).
fn pieces_codec(pieces: &[PathBuf]) -> Result<Codec, MediaError> {
    let mut found = None;
    for piece in pieces {
        let codec = match video_caps_name(piece)?.as_str() {
            "video/x-h264" => Codec::H264,
            "video/x-h265" => Codec::H265,
            other => {
                return Err(MediaError::Other(format!(
                    "{} holds {other}, not H.264 or H.265: it is not a piece of a render",
                    piece.display()
                )));
            }
        };
        match found {
            Some(c) if c != codec => {
                return Err(MediaError::Other(format!(
                    "the pieces were encoded with different codecs ({} is {}): render them all \
                     with the same --encoder",
                    piece.display(),
                    codec.name()
                )));
            }
            _ => found = Some(codec),
        }
    }
    found.ok_or_else(|| MediaError::Other("there are no pieces to join".into()))
}

/// The demuxer of a piece: pieces are written in the output's container.
fn demuxer(piece: &Path) -> &'static str {
    match piece.extension().and_then(|e| e.to_str()) {
        Some("mp4" | "mov") => "qtdemux",
        _ => "matroskademux",
    }
}

/// The caps name of a piece's first video stream (read from its header).
fn video_caps_name(path: &Path) -> Result<String, MediaError> {
    let pipeline = gst::Pipeline::with_name("stereosplat-piece-probe");
    let src = media::make("filesrc")?;
    src.set_property("location", path.to_string_lossy().as_ref());
    let demux = media::make(demuxer(path))?;
    let err = |e: gst::glib::BoolError| MediaError::Other(e.to_string());
    pipeline.add_many([&src, &demux]).map_err(err)?;
    src.link(&demux).map_err(err)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let weak = pipeline.downgrade();
    demux.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        if let Some(name) = caps.structure(0).map(|s| s.name().to_string()) {
            let _ = tx.lock().map(|t| t.send(name));
        }
        if let Some(p) = weak.upgrade() {
            let _ = media::link_fakesink(&p, pad);
        }
    });
    pipeline
        .set_state(gst::State::Paused)
        .map_err(|_| MediaError::Other(format!("{} cannot be read", path.display())))?;
    let name = rx.recv_timeout(Duration::from_secs(10));
    let _ = pipeline.set_state(gst::State::Null);
    name.map_err(|_| MediaError::Other(format!("{} has no video stream", path.display())))
}
