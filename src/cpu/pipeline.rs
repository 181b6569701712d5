//! The CPU warp on a thread of its own (`cpu-warp-feed`), so the render loop decodes the
//! next frame, reads its depth and hands finished frames to the encoder while the warp
//! works: the warp, the stage that sets the speed, never waits for the loop. One frame
//! is warped while the next waits in a queue of one.

use std::sync::mpsc;
use std::time::Instant;

use super::{CpuComposer, CpuWarper, DepthFormat, RawDepth};
use crate::inpaint::Inpainter;
use crate::media::decode::Frame;
use crate::stereo::FrameParams;

/// One frame to warp.
pub struct Job {
    /// The decoded frame (RGBA, I420 or NV12), released once warped.
    pub frame: Frame,
    /// The depth for this frame, or None when it is the previous frame's.
    pub depth: Option<Vec<u8>>,
    pub depth_stride: usize,
    pub depth_format: DepthFormat,
    pub params: FrameParams,
    pub pts: u64,
    pub duration: Option<u64>,
    /// `--floating-window` bands (fractions of the picture's width: the left eye's left
    /// edge, the right eye's right edge).
    pub window: [f32; 2],
    /// Where to compose.
    pub out: Output,
}

/// Where a frame is composed.
pub enum Output {
    /// The encoder's own frame buffer (I420 video), pushed as it is.
    Encoder(gstreamer::Buffer),
    /// Bytes the render loop copies on (stills and RGBA), recycled from an earlier
    /// `Finished`.
    Bytes(Vec<u8>),
}

/// One warped and composed frame, in the encoder's format.
pub struct Finished {
    pub out: Output,
    pub pts: u64,
    pub duration: Option<u64>,
    /// When the warp of this frame started and ended (for the trace and stage times).
    pub started: Instant,
    pub ended: Instant,
    /// The depth buffer this frame's depth replaced, for reuse.
    pub spare_depth: Option<Vec<u8>>,
}

/// The warp thread ended before the frame could be handed to it (it logs why).
#[derive(Debug, thiserror::Error)]
#[error("the CPU warp thread stopped (see the messages above)")]
pub struct WarpThreadStopped;

pub struct CpuPipeline {
    jobs: Option<mpsc::SyncSender<Job>>,
    finished: mpsc::Receiver<Finished>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CpuPipeline {
    /// Starts the thread; `inpainter`: the model fill (`--fill model`), run on each eye
    /// between the warp and the compose.
    pub fn start(
        mut warper: CpuWarper,
        mut composer: CpuComposer,
        mut inpainter: Option<Inpainter>,
    ) -> Self {
        let (jobs, queue) = mpsc::sync_channel::<Job>(1);
        let (done, finished) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("cpu-warp-feed".into())
            .spawn(move || {
                let mut depth = Vec::new();
                for job in queue {
                    let started = Instant::now();
                    let spare_depth = job.depth.map(|d| std::mem::replace(&mut depth, d));
                    let pixels = job.frame.pixels();
                    warper.warp(
                        &pixels,
                        RawDepth {
                            data: &depth,
                            stride: job.depth_stride,
                            size: warper.depth_size(),
                            format: job.depth_format,
                        },
                        &job.params,
                    );
                    if let Some(inp) = &mut inpainter {
                        let size = warper.work_size();
                        let failed = warper.eyes_to_repaint().enumerate().find_map(
                            |(i, (filled, warped))| inp.fill(i, filled, warped, size).err(),
                        );
                        if let Some(e) = failed {
                            log::error!("{e}");
                            break;
                        }
                    }
                    let mut out = job.out;
                    composer.set_window(job.window);
                    match &mut out {
                        Output::Encoder(buffer) => {
                            let mut map = buffer
                                .get_mut()
                                .and_then(|b| b.map_writable().ok())
                                .expect("a fresh pooled buffer is ours alone and maps");
                            composer.compose_to(&warper, &pixels, &mut map);
                        }
                        Output::Bytes(bytes) => composer.compose_into(&warper, &pixels, bytes),
                    }
                    drop(job.frame);
                    let finished = Finished {
                        out,
                        pts: job.pts,
                        duration: job.duration,
                        started,
                        ended: Instant::now(),
                        spare_depth,
                    };
                    if done.send(finished).is_err() {
                        break;
                    }
                }
            })
            .expect("starting the CPU warp thread");
        Self {
            jobs: Some(jobs),
            finished,
            thread: Some(thread),
        }
    }

    /// Queues a frame; waits while the warp works on one frame and another is queued.
    pub fn submit(&self, job: Job) -> Result<(), WarpThreadStopped> {
        self.jobs
            .as_ref()
            .expect("submit after close")
            .send(job)
            .map_err(|_| WarpThreadStopped)
    }

    /// A finished frame, if one is ready.
    pub fn try_finished(&self) -> Option<Finished> {
        self.finished.try_recv().ok()
    }

    /// No more frames: the rest as they finish.
    pub fn close(&mut self) -> mpsc::Iter<'_, Finished> {
        self.jobs = None;
        self.finished.iter()
    }
}

impl Drop for CpuPipeline {
    /// Stops the thread after its current frame (also when the render fails midway).
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
