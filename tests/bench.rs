//! `stereosplat bench` end to end: it renders each requested size and runs its baseline
//! with the same encoder, and refuses sizes 4:2:0 video cannot have.

mod common;

use std::process::Command;

#[test]
fn bench_renders_each_size_against_its_baseline() {
    let dir = common::work_dir("bench");
    let run = Command::new(common::bin())
        .args([
            "bench",
            "--frames",
            "6",
            "--iterations",
            "1",
            "--warp-device",
            "cpu",
            "--encoder",
            "x264",
            "--e2e-size",
            "64x48",
            "--e2e-size",
            "96x64",
            "--e2e-runs",
            "2",
            "--work-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for (w, h) in [(64, 48), (96, 64)] {
        assert!(
            stdout.contains(&format!(
                "end to end {w}x{h} half-sbs, warp on the CPU, 6 frames, x264enc (H.264)"
            )),
            "{stdout}"
        );
        for file in ["stereo", "baseline"] {
            let path = dir.join(format!("{file}{w}x{h}.mp4"));
            assert!(
                path.metadata().is_ok_and(|m| m.len() > 0),
                "{} missing",
                path.display()
            );
        }
    }
    assert_eq!(
        stdout
            .matches("decode+encode only (same clip, same encoder and settings)")
            .count(),
        2,
        "{stdout}"
    );
    // Two alternated runs per size, each listed with its own ratio.
    let runs: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("runs (render/baseline, alternated"))
        .collect();
    assert_eq!(runs.len(), 2, "{stdout}");
    for line in runs {
        assert_eq!(line.matches("x, ").count() + 1, 2, "{line}");
    }
}

#[test]
fn bench_refuses_odd_sizes() {
    let run = Command::new(common::bin())
        .args(["bench", "--e2e-size", "641x360"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("641x360: both sides must be even"),
        "{stderr}"
    );
}

#[test]
fn bench_refuses_a_missing_encoder_before_timing_anything() {
    if stereosplat::media::encode::VideoEncoder::Nvenc
        .resolve(8)
        .is_ok()
    {
        return; // NVENC is here: nothing to refuse.
    }
    let run = Command::new(common::bin())
        .args(["bench", "--encoder", "nvenc"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("--encoder nvenc: not available"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(!stdout.contains("warp+compose"), "timed first: {stdout}");
}
