//! Raw frames into a file through `appsrc name=src ! <tail>` (a gst-launch description
//! that ends in its own sink): the one writer behind depth files (`depth::writer`: FFV1 in
//! Matroska, or PNG) and generated test media (`synth`).

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::MediaError;

pub struct RawWriter {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
}

impl RawWriter {
    /// Starts `appsrc name=src ! <tail>` taking frames of `caps` (timestamps in nanoseconds).
    pub fn open(tail: &str, caps: &gst::Caps) -> Result<Self, MediaError> {
        super::init()?;
        let pipeline = gst::parse::launch(&format!("appsrc name=src ! {tail}"))
            .map_err(|e| MediaError::Other(format!("{tail}: {e}")))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| MediaError::Other("not a pipeline".into()))?;
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| MediaError::Other("no appsrc".into()))?;
        src.set_caps(Some(caps));
        src.set_format(gst::Format::Time);
        // Waits for the encoder rather than queueing frames without bound.
        src.set_block(true);
        Ok(Self { pipeline, src })
    }

    /// An element of the tail, by name (to set a property before `start`).
    pub fn element(&self, name: &str) -> Option<gst::Element> {
        self.pipeline.by_name(name)
    }

    pub fn start(&self) -> Result<(), MediaError> {
        self.pipeline
            .set_state(gst::State::Playing)
            .map(|_| ())
            .map_err(|_| {
                let bus = self.pipeline.bus().expect("a pipeline has a bus");
                super::poll_bus(&bus)
                    .err()
                    .unwrap_or_else(|| MediaError::Other("the writer refused to start".into()))
            })
    }

    /// One frame in the caps' layout, shown from `pts_nanos` for `duration_nanos`.
    pub fn push(
        &mut self,
        data: Vec<u8>,
        pts_nanos: u64,
        duration_nanos: Option<u64>,
    ) -> Result<(), MediaError> {
        let mut buf = gst::Buffer::from_mut_slice(data);
        {
            let b = buf.get_mut().expect("a fresh buffer is ours alone");
            b.set_pts(gst::ClockTime::from_nseconds(pts_nanos));
            b.set_duration(duration_nanos.map(gst::ClockTime::from_nseconds));
        }
        let pushed = self.src.push_buffer(buf);
        // The bus holds the reason when the push fails (a full disk...).
        let bus = self.pipeline.bus().expect("a pipeline has a bus");
        super::poll_bus(&bus)?;
        pushed.map_err(|e| MediaError::Other(format!("the writer stopped: {e:?}")))?;
        Ok(())
    }

    /// Ends the stream and waits until the file is complete.
    pub fn finish(self) -> Result<(), MediaError> {
        let _ = self.src.end_of_stream();
        let bus = self.pipeline.bus().expect("a pipeline has a bus");
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::NONE,
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        let _ = self.pipeline.set_state(gst::State::Null);
        match msg.as_ref().and_then(super::bus_error) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for RawWriter {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
