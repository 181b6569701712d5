//! Long renders in pieces (issue #22), through the command line: a chunked render equals
//! the one-piece render frame for frame (lossless H.264), with the same timestamps, audio
//! and stereo metadata; a render killed with SIGKILL resumes with only the missing
//! pieces; two workers at once and then `join` give the same file; a piece cut short on
//! disk is found and rendered again.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use stereosplat::media::decode::{DecodeOptions, Decoder, PixelFormat};

fn stereosplat(args: &[&str]) -> Output {
    Command::new(common::bin())
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = stereosplat(args);
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "stereosplat {args:?} failed:\n{log}");
    log
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The README's sample (ray-traced, AAC audio, its depth found by name) in a fresh folder.
fn sample(name: &str, size: (u32, u32), frames: u64) -> (PathBuf, PathBuf) {
    let dir = common::work_dir(name);
    stereosplat::media::synth::write_sample(&dir, size, frames, 24).unwrap();
    let input = dir.join("sample.mp4");
    (dir, input)
}

/// Every decoded frame (RGBA) with its timestamp.
fn frames(path: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut dec = Decoder::open(path, PixelFormat::Rgba, &DecodeOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(f) = dec.next_frame().unwrap() {
        let (w, h, stride) = (
            f.width() as usize,
            f.height() as usize,
            f.stride_bytes() as usize,
        );
        let rgba = (0..h)
            .flat_map(|y| f.data()[y * stride..][..w * 4].to_vec())
            .collect();
        out.push((f.pts_nanos, rgba));
    }
    out
}

/// The compressed audio stream of a Matroska or MP4 file, as stored.
fn audio_bytes(path: &Path, dir: &Path) -> Vec<u8> {
    let demux = match path.extension().and_then(|e| e.to_str()) {
        Some("mkv") => "matroskademux",
        _ => "qtdemux",
    };
    let out = dir.join(format!(
        "{}.audio",
        path.file_name().unwrap().to_string_lossy()
    ));
    stereosplat::media::synth::run_launch(&format!(
        "filesrc location=\"{}\" ! {demux} name=d d.audio_0 ! queue ! filesink location=\"{}\"",
        path.display(),
        out.display()
    ))
    .unwrap();
    std::fs::read(out).unwrap()
}

/// Asserts two renders hold the same frames at the same times and the same audio.
fn assert_same_render(a: &Path, b: &Path, dir: &Path) {
    let (fa, fb) = (frames(a), frames(b));
    assert_eq!(
        fa.len(),
        fb.len(),
        "frame counts of {} and {}",
        a.display(),
        b.display()
    );
    for (i, ((ta, pa), (tb, pb))) in fa.iter().zip(&fb).enumerate() {
        assert_eq!(ta, tb, "frame {i}'s timestamp");
        assert!(
            pa == pb,
            "frame {i} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
    let (aa, ab) = (audio_bytes(a, dir), audio_bytes(b, dir));
    assert!(!aa.is_empty(), "{} has no audio", a.display());
    assert!(
        aa == ab,
        "the audio of {} and {} differs",
        a.display(),
        b.display()
    );
}

/// The number of pieces the log says were rendered and reused.
fn pieces(log: &str) -> (u64, u64) {
    let line = log
        .lines()
        .find(|l| l.contains("pieces: "))
        .unwrap_or_else(|| panic!("no pieces line in\n{log}"));
    let num = |after: &str| -> u64 {
        let (_, rest) = line.split_once(after).unwrap();
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    (num("pieces: "), num("rendered now, "))
}

#[test]
fn a_chunked_render_equals_the_one_piece_render() {
    let (dir, input) = sample("chunks_equal", (160, 90), 72);
    for (ext, layout) in [("mkv", "sbs"), ("mp4", "half-sbs")] {
        let one = dir.join(format!("one.{ext}"));
        let chunked = dir.join(format!("chunked.{ext}"));
        let common = ["--crf", "0", "--layout", layout];
        let mut a = vec!["render", s(&input), "-o", s(&one)];
        a.extend(common);
        ok(&a);
        let mut a = vec![
            "render",
            s(&input),
            "-o",
            s(&chunked),
            "--chunk-seconds",
            "1",
        ];
        a.extend(common);
        let log = ok(&a);
        // 72 frames at 24 fps in 1 s pieces.
        assert_eq!(pieces(&log), (3, 0), "{log}");
        assert!(log.contains("joined 3 pieces"), "{log}");
        assert!(log.contains("with audio"), "{log}");
        assert!(
            !dir.join(format!("chunked.{ext}.chunks")).exists(),
            "the work folder is removed after the join"
        );
        assert_same_render(&one, &chunked, &dir);
        let (a, b) = (
            std::fs::read(&one).unwrap(),
            std::fs::read(&chunked).unwrap(),
        );
        if ext == "mkv" {
            use stereosplat::media::stereo_tags::find_stereo_mode;
            let mode =
                |bytes: &[u8]| find_stereo_mode(&bytes[..bytes.len().min(65536)]).map(|i| bytes[i]);
            assert_eq!(mode(&b), mode(&a));
            assert_eq!(mode(&b), Some(1), "side by side, left first");
        } else {
            // The svmi box (stereo layout and view order), as the one-piece render's.
            let svmi = |bytes: &[u8]| {
                bytes
                    .windows(4)
                    .position(|w| w == b"svmi")
                    .map(|i| bytes[i..i + 12].to_vec())
            };
            assert!(svmi(&b).is_some(), "the joined MP4 carries svmi");
            assert_eq!(svmi(&b), svmi(&a));
        }
    }
}

#[test]
fn a_chunked_range_between_frames_equals_the_one_piece_range() {
    // --start 1.2 falls inside frame 28 (1.167 .. 1.208 s): both start at frame 29.
    let (dir, input) = sample("chunks_range", (160, 90), 96);
    let (one, chunked) = (dir.join("one.mkv"), dir.join("chunked.mkv"));
    let range = ["--crf", "0", "--start", "1.2", "--frames", "40"];
    let mut a = vec!["render", s(&input), "-o", s(&one)];
    a.extend(range);
    ok(&a);
    let mut a = vec![
        "render",
        s(&input),
        "-o",
        s(&chunked),
        "--chunk-seconds",
        "0.5",
    ];
    a.extend(range);
    let log = ok(&a);
    assert_eq!(pieces(&log), (4, 0), "{log}");
    assert_same_render(&one, &chunked, &dir);
}

#[test]
fn a_killed_render_resumes_with_only_the_missing_pieces() {
    let (dir, input) = sample("chunks_killed", (320, 180), 360);
    let whole = dir.join("whole.mkv");
    ok(&[
        "render",
        s(&input),
        "-o",
        s(&whole),
        "--crf",
        "0",
        "--no-chunks",
    ]);
    let out = dir.join("resumed.mkv");
    let args = [
        "render",
        s(&input),
        "-o",
        s(&out),
        "--crf",
        "0",
        "--chunk-seconds",
        "1",
    ];
    let mut child = Command::new(common::bin())
        .args(args)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let work = dir.join("resumed.mkv.chunks");
    let records = || {
        std::fs::read_dir(&work)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .filter(|e| e.file_name() != "manifest.json")
                    .count()
            })
            .unwrap_or(0)
    };
    let t = Instant::now();
    while records() < 3 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the render ended before it was killed"
        );
        assert!(t.elapsed() < Duration::from_secs(120), "no pieces appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let done = records();
    assert!(!out.exists(), "killed before the join");
    assert!(done < 15, "killed with pieces left to render");
    let log = ok(&args);
    let (rendered, reused) = pieces(&log);
    assert_eq!(
        reused, done as u64,
        "every finished piece is reused:\n{log}"
    );
    assert_eq!(rendered + reused, 15, "{log}");
    assert_same_render(&whole, &out, &dir);
}

#[test]
fn two_workers_at_once_then_join_give_the_same_file_and_a_cut_piece_is_rendered_again() {
    let (dir, input) = sample("chunks_workers", (160, 90), 120);
    let whole = dir.join("whole.mkv");
    ok(&["render", s(&input), "-o", s(&whole), "--crf", "0"]);
    let out = dir.join("workers.mkv");
    let worker = |w: &str| {
        Command::new(common::bin())
            .args([
                "render",
                s(&input),
                "-o",
                s(&out),
                "--crf",
                "0",
                "--chunk-seconds",
                "1",
                "--chunk-worker",
                w,
                "--no-join",
            ])
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (worker("0/2"), worker("1/2"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for o in [&a, &b] {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let logs = [&a, &b].map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
    // 5 pieces: worker 0 renders 0, 2, 4 and worker 1 renders 1, 3.
    assert_eq!(pieces(&logs[0]).0, 3, "{}", logs[0]);
    assert_eq!(pieces(&logs[1]).0, 2, "{}", logs[1]);
    assert!(!out.exists(), "--no-join leaves the joining to `join`");

    // A piece cut short on disk: `join` refuses it by number, and a rerun renders it alone.
    let piece = dir.join("workers.mkv.chunks/piece-00003.mkv");
    let len = std::fs::metadata(&piece).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&piece)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let o = stereosplat(&["join", s(&out)]);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{log}");
    assert!(log.contains("pieces 3 ("), "{log}");
    assert!(!out.exists());
    let log = ok(&[
        "render",
        s(&input),
        "-o",
        s(&out),
        "--crf",
        "0",
        "--chunk-seconds",
        "1",
        "--chunk-worker",
        "1/2",
        "--no-join",
    ]);
    assert!(log.contains("piece 3 of 5: its file is"), "{log}");
    assert_eq!(pieces(&log), (1, 1), "{log}");

    let log = ok(&["join", s(&out)]);
    assert!(log.contains("joined 5 pieces"), "{log}");
    assert_same_render(&whole, &out, &dir);

    // Careless lines.
    for (args, expect) in [
        (
            vec!["--chunk-worker", "2/2"],
            "must be below the number of workers",
        ),
        (vec!["--chunk-worker", "one"], "takes I/N"),
        (
            vec!["--chunk-seconds", "0"],
            "--chunk-seconds is the length",
        ),
        (
            vec!["--no-chunks", "--chunk-seconds", "5"],
            "cannot be used with",
        ),
    ] {
        let mut a = vec!["render", s(&input), "-o", "x.mkv"];
        a.extend(args);
        let o = stereosplat(&a);
        let log = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{log}");
        assert!(log.contains(expect), "{expect:?} not in {log}");
    }
    let o = stereosplat(&["join", s(&dir.join("nothing.mkv"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no readable manifest.json"));
}

#[test]
fn long_inputs_render_in_pieces_by_default_and_no_chunks_turns_it_off() {
    // Eleven minutes at one frame a second: longer than the 10-minute threshold.
    let dir = common::work_dir("chunks_default");
    let input = dir.join("long.mkv");
    stereosplat::media::synth::run_launch(&format!(
        "videotestsrc pattern=ball num-buffers=660 ! video/x-raw,width=64,height=36,framerate=1/1 ! \
         videoconvert ! video/x-raw,format=I420 ! x264enc ! h264parse ! matroskamux ! \
         filesink location=\"{}\"",
        input.display()
    ))
    .unwrap();
    let out = dir.join("long_3d.mkv");
    let log = ok(&["render", s(&input), "-o", s(&out)]);
    assert!(log.contains("so it renders in 60 s pieces"), "{log}");
    assert!(log.contains("--no-chunks renders it in one piece"), "{log}");
    assert_eq!(pieces(&log), (11, 0), "{log}");
    assert_eq!(frames(&out).len(), 660);
    let log = ok(&["render", s(&input), "-o", s(&out), "--no-chunks"]);
    assert!(!log.contains("pieces"), "{log}");
    assert_eq!(frames(&out).len(), 660);
}
