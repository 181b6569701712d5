//! Soak: a clip 10x longer renders with one output frame per input frame, the source's
//! timestamps, and the same peak memory (within 10 %): nothing grows with clip length.

mod common;

use std::path::Path;
use std::process::Command;

use stereosplat::media::decode::{DecodeOptions, Decoder, PixelFormat};

/// Renders and returns the peak memory (MiB) the binary reports.
fn render_peak_mib(input: &Path, out: &Path, device: &str) -> u64 {
    let o = Command::new(common::bin())
        .arg("render")
        .arg(input)
        .arg("-o")
        .arg(out)
        .args(["--layout", "half-sbs", "--speed-preset", "ultrafast"])
        .args(["--warp-device", device])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("peak memory"))
        .expect("peak memory line");
    line.rsplit("peak memory ")
        .next()
        .unwrap()
        .trim_end_matches(" MiB")
        .trim()
        .parse()
        .unwrap()
}

fn timestamps(path: &Path) -> Vec<u64> {
    let mut dec = Decoder::open(path, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
    let mut pts = Vec::new();
    while let Some(f) = dec.next_frame().unwrap() {
        pts.push(f.pts_nanos);
    }
    pts
}

// Guards a real defect: from c5d13ef to its fix, lavapipe leaked ~150 KB per frame in the
// branchy depth_prep shader (see the comment at the top of shaders/depth_prep.wgsl).
#[test]
fn memory_stays_flat_and_every_frame_keeps_its_time_on_the_gpu() {
    soak("gpu");
}

#[test]
fn memory_stays_flat_and_every_frame_keeps_its_time_on_the_cpu() {
    soak("cpu");
}

fn soak(device: &str) {
    let mut peaks = Vec::new();
    for frames in [60u64, 600] {
        let dir = common::work_dir(&format!("soak_{device}_{frames}"));
        stereosplat::media::synth::write_sample(&dir, (64, 36), frames, 24).unwrap();
        let input = dir.join("sample.mp4");
        let out = dir.join("out.mkv");
        peaks.push(render_peak_mib(&input, &out, device));
        let (src, got) = (timestamps(&input), timestamps(&out));
        assert_eq!(got.len() as u64, frames, "one output frame per input frame");
        for (a, b) in got.iter().zip(&src) {
            assert!(a.abs_diff(*b) <= 1_000_000, "output pts {a} vs source {b}");
        }
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "timestamps must increase"
        );
    }
    let (short, long) = (peaks[0] as f64, peaks[1] as f64);
    println!("{device} warp: peak memory {short} MiB for 60 frames, {long} MiB for 600");
    assert!(
        long <= short * 1.10 + 2.0,
        "memory grew with clip length: {short} -> {long} MiB"
    );
}
