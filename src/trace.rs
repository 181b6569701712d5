//! Where a render's time goes across threads: CPU time per stage sampled from
//! /proc/self/task (Linux), and an optional Chrome trace (`render --trace FILE.json`,
//! open in Perfetto or chrome://tracing) with those samples as counters and the render
//! loop's own waits as spans. On a software rasteriser the warp is CPU time on the GPU
//! driver's threads, so this is also how the warp's CPU cost per frame is measured.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The stages a thread's CPU time is charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The GPU driver's threads (lavapipe runs the warp and compose there).
    Gpu,
    /// The CPU warp's worker threads (`--warp-device cpu`).
    CpuWarp,
    /// Demuxing and decoding the input and depth videos.
    Decode,
    /// Colour conversion left to GStreamer, encoding, muxing, writing.
    Encode,
    /// The render loop itself: uploads, recording GPU work, readback copies.
    Loop,
    Other,
}

pub const STAGES: [Stage; 6] = [
    Stage::Gpu,
    Stage::CpuWarp,
    Stage::Decode,
    Stage::Encode,
    Stage::Loop,
    Stage::Other,
];

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Gpu => "GPU driver",
            Stage::CpuWarp => "CPU warp",
            Stage::Decode => "decode",
            Stage::Encode => "encode",
            Stage::Loop => "render loop",
            Stage::Other => "other",
        }
    }

    /// By thread name: GStreamer names streaming threads after the element that runs
    /// them ("dec-video:src", "enc-video:src", see media::make_named), and threads inherit
    /// their creator's name, so x264's and libav's workers follow their element. Threads
    /// still named like the process are the GPU driver's (lavapipe's queue and compute
    /// pools); ours all have names.
    fn of(comm: &str, process: &str) -> Stage {
        let starts = |p: &str| comm.starts_with(p);
        if starts("enc-") {
            Stage::Encode
        } else if starts("cpu-warp") {
            Stage::CpuWarp
        } else if starts("dec-")
            // GLib's pool threads: the decoders' videoconvert runs on all cores.
            || starts("pool-")
            || comm.contains("demux")
            || starts("typefind")
            || starts("multiqueue")
            || starts("parsebin")
        {
            Stage::Decode
        } else if comm == process || starts("llvmpipe") || starts("lp:") {
            Stage::Gpu
        } else {
            Stage::Other
        }
    }

    fn index(self) -> usize {
        STAGES.iter().position(|s| *s == self).expect("listed")
    }
}

/// CPU seconds per stage (in `STAGES` order).
pub type StageCpu = [f64; STAGES.len()];

/// Samples every thread's CPU time until [`CpuProfile::finish`].
pub struct CpuProfile {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<(f64, StageCpu)>>>,
    started: Instant,
    last: Arc<Mutex<HashMap<i32, (Stage, u64)>>>,
    loop_tid: i32,
}

/// What a profile measured.
#[derive(Clone, Debug, Default)]
pub struct CpuReport {
    pub wall_secs: f64,
    /// CPU seconds per stage over the whole run.
    pub total: StageCpu,
    /// (seconds since start, CPU seconds per stage in the interval before it).
    pub samples: Vec<(f64, StageCpu)>,
}

impl CpuProfile {
    /// Starts sampling every `interval`; the calling thread counts as the render loop.
    pub fn start(interval: Duration) -> Self {
        let loop_tid = current_tid();
        let stop = Arc::new(AtomicBool::new(false));
        let last = Arc::new(Mutex::new(HashMap::new()));
        let started = Instant::now();
        // Baseline: CPU the threads already used does not count.
        sample(&last, loop_tid);
        let thread = {
            let stop = stop.clone();
            let last = last.clone();
            std::thread::Builder::new()
                .name("cpu-profile".into())
                .spawn(move || {
                    let mut out = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(interval);
                        out.push((started.elapsed().as_secs_f64(), sample(&last, loop_tid)));
                    }
                    out
                })
                .ok()
        };
        Self {
            stop,
            thread,
            started,
            last,
            loop_tid,
        }
    }

    pub fn finish(mut self) -> CpuReport {
        self.stop.store(true, Ordering::Relaxed);
        let mut samples = self
            .thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        let wall_secs = self.started.elapsed().as_secs_f64();
        samples.push((wall_secs, sample(&self.last, self.loop_tid)));
        let mut total = [0.0; STAGES.len()];
        for (_, s) in &samples {
            for (t, v) in total.iter_mut().zip(s) {
                *t += v;
            }
        }
        CpuReport {
            wall_secs,
            total,
            samples,
        }
    }
}

impl Drop for CpuProfile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl CpuReport {
    /// "GPU driver 180.1 ms, decode 12.0 ms, ..." per frame, and how busy the machine was.
    pub fn per_frame(&self, frames: u64) -> String {
        if !std::path::Path::new("/proc/self/task").is_dir() {
            return "not measured (per-thread CPU times come from Linux's /proc)".into();
        }
        let n = frames.max(1) as f64;
        let mut s = String::new();
        for (stage, secs) in STAGES.iter().zip(self.total) {
            let _ = write!(s, "{} {:.1} ms, ", stage.name(), secs * 1000.0 / n);
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let busy: f64 = self.total.iter().sum::<f64>() / (self.wall_secs * cores as f64);
        let _ = write!(
            s,
            "CPU busy {:.0} % of {cores} core(s)",
            (busy * 100.0).min(100.0)
        );
        s
    }
}

/// One span of the render loop's time (for the trace).
#[derive(Clone, Copy, Debug)]
pub struct Span {
    pub name: &'static str,
    /// Seconds since the render started.
    pub start: f64,
    pub secs: f64,
}

/// Writes a Chrome trace: CPU per stage as counters (percent of one core) and the loop's
/// spans on its own track.
pub fn write_chrome_trace(path: &Path, cpu: &CpuReport, spans: &[Span]) -> std::io::Result<()> {
    let mut events = Vec::new();
    let mut previous = 0.0;
    for (t, s) in &cpu.samples {
        let interval = (t - previous).max(1e-6);
        let args: serde_json::Map<String, serde_json::Value> = STAGES
            .iter()
            .zip(s)
            .map(|(stage, secs)| (stage.name().to_owned(), (secs / interval * 100.0).into()))
            .collect();
        events.push(serde_json::json!({
            "name": "CPU % by stage", "ph": "C", "pid": 1, "tid": 1,
            "ts": previous * 1e6, "args": args,
        }));
        previous = *t;
    }
    for span in spans {
        events.push(serde_json::json!({
            "name": span.name, "ph": "X", "pid": 1, "tid": 2,
            "ts": span.start * 1e6, "dur": span.secs * 1e6,
        }));
    }
    events.push(serde_json::json!({
        "name": "thread_name", "ph": "M", "pid": 1, "tid": 2,
        "args": {"name": "render loop"},
    }));
    let text = serde_json::to_string(&serde_json::json!({ "traceEvents": events }))
        .map_err(std::io::Error::other)?;
    crate::fsutil::write_replacing(path, text)
}

fn current_tid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Reads every thread's CPU ticks, charges the growth since the last read to its stage,
/// and returns the seconds per stage.
fn sample(last: &Mutex<HashMap<i32, (Stage, u64)>>, loop_tid: i32) -> StageCpu {
    let mut out = [0.0; STAGES.len()];
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    let process = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    let process = process.trim_end();
    // SAFETY: sysconf has no preconditions.
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // "tid (comm) state ...": the name may hold spaces and parentheses; fields
        // 14 and 15 (utime, stime) count from after its closing parenthesis.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields
            .get(11..13)
            .map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
            .unwrap_or(0);
        let stage = if tid == loop_tid {
            Stage::Loop
        } else {
            Stage::of(comm, process)
        };
        let before = last.insert(tid, (stage, ticks)).map_or(0, |(_, t)| t);
        out[stage.index()] += ticks.saturating_sub(before) as f64 / ticks_per_sec;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_charged_by_name() {
        let p = "stereosplat";
        assert_eq!(Stage::of("enc-video:src", p), Stage::Encode);
        assert_eq!(Stage::of("dec-video:src", p), Stage::Decode);
        assert_eq!(Stage::of("qtdemux0:sink", p), Stage::Decode);
        assert_eq!(Stage::of("stereosplat", p), Stage::Gpu);
        assert_eq!(Stage::of("llvmpipe-0", p), Stage::Gpu);
        assert_eq!(Stage::of("cpu-warp-1", p), Stage::CpuWarp);
        assert_eq!(Stage::of("pool-stereosplat", p), Stage::Decode);
        assert_eq!(Stage::of("dec-depth-scan", p), Stage::Decode);
        assert_eq!(Stage::of("ctrl-c", p), Stage::Other);
    }

    #[test]
    fn a_busy_thread_shows_up() {
        // This thread's own CPU time, so the test holds on a loaded machine (parallel
        // tests on two cores), where wall time says little about it.
        fn thread_cpu_secs() -> f64 {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: clock_gettime writes one timespec we own.
            unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
            ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
        }
        let profile = CpuProfile::start(Duration::from_millis(20));
        let start = thread_cpu_secs();
        let mut x = 0u64;
        while thread_cpu_secs() - start < 0.3 {
            for _ in 0..10_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        let report = profile.finish();
        // The spinning loop is this thread: its 0.3 s of CPU are charged to the loop
        // (counters tick in 10 ms steps).
        let looped = report.total[Stage::Loop.index()];
        assert!(looped > 0.25 && looped < 0.45, "{report:?}");
        assert!(!report.samples.is_empty());
    }
}
