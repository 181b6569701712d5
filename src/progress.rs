//! Progress of a render (frames) and of a download (bytes): a bar with rate and ETA on a
//! terminal; a log line every few seconds otherwise (CI, pipes); nothing when quiet.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

pub trait Progress {
    fn start(&mut self, total_frames: Option<u64>);
    fn frame(&mut self, done: u64);
    fn finish(&mut self);
}

pub fn for_terminal(quiet: bool) -> Box<dyn Progress> {
    if quiet {
        Box::new(Silent)
    } else if std::io::stderr().is_terminal() {
        Box::new(Bar(None))
    } else {
        Box::new(LogLines {
            total: None,
            started: Instant::now(),
            last: Instant::now(),
        })
    }
}

pub struct Silent;

impl Progress for Silent {
    fn start(&mut self, _: Option<u64>) {}
    fn frame(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

struct Bar(Option<indicatif::ProgressBar>);

impl Progress for Bar {
    fn start(&mut self, total: Option<u64>) {
        let bar = match total {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::no_length(),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40.cyan/blue} {pos}/{len} frames  {per_sec}  elapsed {elapsed}  ETA {eta}",
            )
            .expect("valid template"),
        );
        self.0 = Some(bar);
    }
    fn frame(&mut self, done: u64) {
        if let Some(b) = &self.0 {
            b.set_position(done);
        }
    }
    fn finish(&mut self) {
        if let Some(b) = self.0.take() {
            b.finish_and_clear();
        }
    }
}

struct LogLines {
    total: Option<u64>,
    started: Instant,
    last: Instant,
}

impl Progress for LogLines {
    fn start(&mut self, total: Option<u64>) {
        self.total = total;
        self.started = Instant::now();
        self.last = self.started;
    }
    fn frame(&mut self, done: u64) {
        if self.last.elapsed() < Duration::from_secs(5) {
            return;
        }
        self.last = Instant::now();
        let secs = self.started.elapsed().as_secs_f64();
        let fps = done as f64 / secs.max(1e-9);
        match self.total {
            Some(t) if t > 0 => {
                let eta = t.saturating_sub(done) as f64 / fps.max(1e-9);
                log::info!("{done}/{t} frames, {fps:.1} fps, ETA {eta:.0} s");
            }
            _ => log::info!("{done} frames, {fps:.1} fps"),
        }
    }
    fn finish(&mut self) {}
}

/// Progress of a transfer in bytes.
pub trait Transfer {
    /// `total` bytes if known, of which `already` were there before (a resumed download).
    fn start(&mut self, total: Option<u64>, already: u64);
    fn advance(&mut self, done: u64);
    fn finish(&mut self);
}

pub fn transfer_for_terminal(quiet: bool) -> Box<dyn Transfer> {
    if quiet {
        Box::new(SilentTransfer)
    } else if std::io::stderr().is_terminal() {
        Box::new(ByteBar(None))
    } else {
        Box::new(ByteLines {
            total: None,
            last: Instant::now(),
        })
    }
}

pub struct SilentTransfer;

impl Transfer for SilentTransfer {
    fn start(&mut self, _: Option<u64>, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

struct ByteBar(Option<indicatif::ProgressBar>);

impl Transfer for ByteBar {
    fn start(&mut self, total: Option<u64>, already: u64) {
        let bar = match total {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::no_length(),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40.cyan/blue} {bytes}/{total_bytes}  {binary_bytes_per_sec}  ETA {eta}",
            )
            .expect("valid template"),
        );
        bar.set_position(already);
        self.0 = Some(bar);
    }
    fn advance(&mut self, done: u64) {
        if let Some(b) = &self.0 {
            b.set_position(done);
        }
    }
    fn finish(&mut self) {
        if let Some(b) = self.0.take() {
            b.finish_and_clear();
        }
    }
}

struct ByteLines {
    total: Option<u64>,
    last: Instant,
}

impl Transfer for ByteLines {
    fn start(&mut self, total: Option<u64>, _: u64) {
        self.total = total;
        self.last = Instant::now();
    }
    fn advance(&mut self, done: u64) {
        if self.last.elapsed() < Duration::from_secs(5) {
            return;
        }
        self.last = Instant::now();
        let mb = |b: u64| b as f64 / 1e6;
        match self.total {
            Some(t) => log::info!("downloaded {:.1} of {:.1} MB", mb(done), mb(t)),
            None => log::info!("downloaded {:.1} MB", mb(done)),
        }
    }
    fn finish(&mut self) {}
}
