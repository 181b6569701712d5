//! Ctrl-C on a running render, through the real binary and a real SIGINT: once keeps a
//! properly closed `<name>.partial.<ext>` and nothing under the final name; twice stops
//! at once and leaves nothing behind.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stereosplat::media::decode::{DecodeOptions, Decoder, PixelFormat};

fn start(input: &Path, out: &Path) -> Child {
    Command::new(common::bin())
        .args(["render"])
        .arg(input)
        .arg("-o")
        .arg(out)
        // placebo: slow enough to be interrupted mid-clip, and a long flush at the end.
        .args(["--speed-preset", "placebo", "--layout", "sbs"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn sigint(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Waits until the render has written its temporary file and some frames into it.
fn wait_for_progress(dir: &Path) {
    let t = Instant::now();
    loop {
        let growing = std::fs::read_dir(dir).unwrap().any(|e| {
            let e = e.unwrap();
            e.file_name().to_string_lossy().ends_with(".tmp") && e.metadata().unwrap().len() > 4096
        });
        if growing {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the render never started writing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

fn sample(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = common::work_dir(name);
    stereosplat::media::synth::write_sample(&dir, (320, 180), 240, 24).unwrap();
    (dir.join("sample.mp4"), dir)
}

#[test]
fn one_ctrl_c_keeps_a_playable_partial_file() {
    let (input, dir) = sample("interrupt_once");
    let out = dir.join("out.mkv");
    let mut child = start(&input, &out);
    wait_for_progress(&dir);
    sigint(&child);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(!out.exists(), "nothing may appear under the final name");
    let partial = dir.join("out.partial.mkv");
    assert!(
        stderr.contains("out.partial.mkv"),
        "the user is told where it is: {stderr}"
    );
    let mut dec = Decoder::open(&partial, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
    let mut frames = 0;
    while dec.next_frame().unwrap().is_some() {
        frames += 1;
    }
    assert!(
        (1..240).contains(&frames),
        "partial file has {frames} frames"
    );
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
}

#[test]
fn two_ctrl_c_stop_at_once_and_leave_nothing() {
    let (input, dir) = sample("interrupt_twice");
    let out = dir.join("out.mkv");
    let mut child = start(&input, &out);
    wait_for_progress(&dir);
    sigint(&child);
    std::thread::sleep(Duration::from_millis(150));
    sigint(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(!out.exists());
    assert!(
        !dir.join("out.partial.mkv").exists(),
        "the second Ctrl-C discards the output"
    );
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
}
