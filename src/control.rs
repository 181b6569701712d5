//! Stopping long work from another thread (Ctrl-C, the preview's Cancel button), and the
//! error that says how it stopped. Renders, depth estimates and batches all take a
//! [`Cancel`] and check it between frames.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Lets another thread stop work between frames: `cancel` discards the output,
/// `interrupt` (Ctrl-C) closes it properly and keeps it as `<name>.partial.<ext>`.
#[derive(Clone, Debug, Default)]
pub struct Cancel {
    cancelled: Arc<AtomicBool>,
    interrupted: Arc<AtomicBool>,
}

impl Cancel {
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
    }
    pub fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }
    /// Either way of stopping was asked for.
    pub fn should_stop(&self) -> bool {
        self.is_cancelled() || self.is_interrupted()
    }
}

/// Work that stopped because it was asked to (not a failure).
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    /// [`Cancel::cancel`]: nothing was kept.
    #[error("cancelled; nothing was kept")]
    Cancelled,
    /// [`Cancel::interrupt`] during a render: what was rendered is a complete file.
    #[error("interrupted after {frames} frame(s); kept what was rendered as {}", partial.display())]
    Interrupted { partial: PathBuf, frames: u64 },
    /// [`Cancel::interrupt`] during a chunked render: the finished pieces are kept.
    #[error(
        "interrupted: {done} of {total} pieces are finished in {}; run the same command again \
         to render only the rest",
        folder.display()
    )]
    InterruptedPieces {
        done: u64,
        total: u64,
        folder: PathBuf,
    },
    /// [`Cancel::interrupt`] before any frame was rendered (while estimating depth).
    #[error("interrupted while {during}; nothing was rendered yet")]
    InterruptedEarly { during: &'static str },
}

impl Stopped {
    /// How `cancel` says to stop `during` some work, if it does.
    pub fn check(cancel: &Cancel, during: &'static str) -> Result<(), Stopped> {
        if cancel.is_cancelled() {
            Err(Stopped::Cancelled)
        } else if cancel.is_interrupted() {
            Err(Stopped::InterruptedEarly { during })
        } else {
            Ok(())
        }
    }
}
