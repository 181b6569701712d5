//! The source's audio, kept compressed and handed to the encoder in step with the frames:
//! the output's timeline starts at the first frame rendered, or earlier where the audio
//! begins before it (that audio is kept, not cut).

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gstreamer as gst;

use super::Decoder;

impl Decoder {
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

    /// Every audio buffer up to `until_nanos` (frames' timeline), handed to `push` as it
    /// is demuxed: a join's whole sound track, read at parse speed from a decoder made
    /// by `Decoder::audio_of`.
    pub fn drain_audio<E>(
        &mut self,
        until_nanos: u64,
        push: &mut dyn FnMut(gst::Buffer) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut out = Vec::new();
        loop {
            let ended = self.shared.audio_eos.load(Ordering::SeqCst);
            let done = self.take_audio(until_nanos, &mut out);
            for buf in out.drain(..) {
                push(buf)?;
            }
            let no_audio = self.shared.audio_caps.lock().unwrap().is_none()
                && self.shared.pads_done.load(Ordering::SeqCst);
            if done || ended || no_audio {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
