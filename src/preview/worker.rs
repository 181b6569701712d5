//! The full render started from the window: `render::render` on a worker thread, sharing
//! the window's GPU device, with progress for the window and a cancel button.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::control::Cancel;
use crate::gpu::GpuContext;
use crate::progress::Progress;
use crate::render::{RenderError, RenderJob, RenderReport};

#[derive(Default, Clone, Copy)]
pub struct Counts {
    pub done: u64,
    pub total: Option<u64>,
}

/// Progress shared with the window (which repaints on each update).
pub struct SharedProgress {
    counts: Arc<Mutex<Counts>>,
    repaint: egui::Context,
}

impl SharedProgress {
    pub fn new(counts: Arc<Mutex<Counts>>, repaint: egui::Context) -> Self {
        Self { counts, repaint }
    }
}

impl Progress for SharedProgress {
    fn start(&mut self, total: Option<u64>) {
        *self.counts.lock().unwrap_or_else(|e| e.into_inner()) = Counts { done: 0, total };
        self.repaint.request_repaint();
    }
    fn frame(&mut self, done: u64) {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).done = done;
        self.repaint.request_repaint();
    }
    fn finish(&mut self) {
        self.repaint.request_repaint();
    }
}

pub struct RenderTask {
    pub job: RenderJob,
    handle: Option<JoinHandle<Result<RenderReport, RenderError>>>,
    counts: Arc<Mutex<Counts>>,
    cancel: Cancel,
    started: Instant,
}

impl RenderTask {
    pub fn start(ctx: Arc<GpuContext>, job: RenderJob, repaint: egui::Context) -> Self {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let cancel = Cancel::default();
        let (j, c, k) = (job.clone(), counts.clone(), cancel.clone());
        let handle = std::thread::Builder::new()
            .name("stereosplat-render".into())
            .spawn(move || {
                let mut progress = SharedProgress::new(c, repaint);
                crate::render::render(&ctx, &j, &mut progress, &k)
            })
            .expect("spawn the render thread");
        Self {
            job,
            handle: Some(handle),
            counts,
            cancel,
            started: Instant::now(),
        }
    }

    pub fn counts(&self) -> Counts {
        *self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seconds left at the current speed, once a few frames are done.
    pub fn eta_secs(&self) -> Option<f64> {
        let c = self.counts();
        let total = c.total?;
        (c.done >= 2).then(|| {
            let per = self.started.elapsed().as_secs_f64() / c.done as f64;
            per * total.saturating_sub(c.done) as f64
        })
    }

    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    /// The result, once finished.
    pub fn take_result(&mut self) -> Option<Result<RenderReport, RenderError>> {
        if !self.is_finished() {
            return None;
        }
        let h = self.handle.take()?;
        Some(h.join().unwrap_or_else(|_| {
            Err(RenderError::Invalid(
                "the render thread crashed (see the messages above)".into(),
            ))
        }))
    }
}
