//! The `stereosplat` binary on bad input: each case exits non-zero with a message that
//! says what is wrong and what to do, never panics, and leaves no output file.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: Option<i32>,
    stderr: String,
}

fn stereosplat(args: &[&str]) -> Run {
    let out = Command::new(common::bin())
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run stereosplat");
    Run {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `render` and checks failure, message fragments, no panic, and no output.
fn fails<'a>(dir: &Path, mut args: Vec<&'a str>, output: &'a Path, expect: &[&str]) {
    args.splice(0..0, ["render"]);
    args.extend(["-o", s(output)]);
    let r = stereosplat(&args);
    assert_eq!(
        r.code,
        Some(1),
        "{args:?} should fail with exit code 1; stderr:\n{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("panicked"),
        "{args:?} panicked:\n{}",
        r.stderr
    );
    for e in expect {
        assert!(
            r.stderr.to_lowercase().contains(&e.to_lowercase()),
            "{args:?}: message should mention {e:?}:\n{}",
            r.stderr
        );
    }
    assert!(!output.exists(), "{args:?} left {}", output.display());
    let stray: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(stray.is_empty(), "{args:?} left temporary files {stray:?}");
}

fn sample(dir: &Path, size: (u32, u32), frames: u64, fps: u32) -> PathBuf {
    stereosplat::media::synth::write_sample(dir, size, frames, fps).unwrap();
    dir.join("sample.mp4")
}

#[test]
fn unusable_inputs_are_refused_with_a_reason() {
    let dir = common::work_dir("cli_inputs");
    let out = dir.join("out.mp4");
    fails(
        &dir,
        vec![s(&dir.join("nope.mp4"))],
        &out,
        &["no such file"],
    );
    fails(&dir, vec![s(&dir)], &out, &["is a directory", "batch"]);
    let empty = dir.join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    fails(&dir, vec![s(&empty)], &out, &["empty"]);
    let text = dir.join("notes.mp4");
    std::fs::write(&text, "this is not a video\n".repeat(100)).unwrap();
    fails(
        &dir,
        vec![s(&text)],
        &out,
        &["notes.mp4", "not a video or image"],
    );
    let audio_only = dir.join("song.mp4");
    stereosplat::media::synth::run_launch(&format!(
        "audiotestsrc num-buffers=20 ! avenc_aac ! aacparse ! mp4mux ! filesink location=\"{}\"",
        audio_only.display()
    ))
    .unwrap();
    fails(&dir, vec![s(&audio_only)], &out, &["no video stream"]);
    // A truncated mp4: the first half of a real one.
    let input = sample(&dir, (64, 36), 12, 24);
    let bytes = std::fs::read(&input).unwrap();
    let cut = dir.join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let cut_depth = dir.join("cut_depth.mkv");
    std::fs::copy(dir.join("sample_depth.mkv"), &cut_depth).unwrap();
    fails(&dir, vec![s(&cut)], &out, &["cut.mp4"]);
}

#[test]
fn outputs_and_parameters_are_checked_before_any_work() {
    let dir = common::work_dir("cli_params");
    let input = sample(&dir, (64, 36), 6, 24);
    let out = dir.join("out.mp4");
    fails(
        &dir,
        vec![s(&input)],
        &dir.join("out.avi"),
        &["unsupported output type", ".mp4"],
    );
    // Output equal to the input: refused, and the input is untouched.
    let before = std::fs::read(&input).unwrap();
    let r = stereosplat(&["render", s(&input), "-o", s(&input)]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("would destroy that input"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(&input).unwrap(), before);
    fails(
        &dir,
        vec![s(&input), "--max-disp", "NaN"],
        &out,
        &["--max-disp"],
    );
    let no_folder = dir.join("missing").join("trace.json");
    fails(
        &dir,
        vec![s(&input), "--trace", s(&no_folder)],
        &out,
        &["--trace", "folder does not exist"],
    );
    fails(
        &dir,
        vec![s(&input), "--max-disp", "-3"],
        &out,
        &["--max-disp"],
    );
    fails(
        &dir,
        vec![s(&input), "--max-disp", "40"],
        &out,
        &["half the frame width"],
    );
    fails(&dir, vec![s(&input), "--crf", "70"], &out, &["--crf"]);
    fails(
        &dir,
        vec![s(&input), "--speed-preset", "warp9"],
        &out,
        &["speed-preset", "medium"],
    );
    fails(&dir, vec![s(&input), "--frames", "0"], &out, &["--frames"]);
    fails(
        &dir,
        vec![s(&input), "--warp-device", "cpu", "--layout", "grid"],
        &out,
        &["--warp-device cpu cannot do", "--layout grid"],
    );
    fails(
        &dir,
        vec![s(&input), "--depth-kind", "metric"],
        &out,
        &["field of view", "--xfov"],
    );
    fails(
        &dir,
        vec![s(&input), "--depth-kind", "metric", "--xfov", "190"],
        &out,
        &["--xfov"],
    );
    fails(&dir, vec![s(&input), "--ipd-mm", "0"], &out, &["--ipd-mm"]);
    fails(
        &dir,
        vec![s(&input), "--dilate", "500"],
        &out,
        &["--dilate"],
    );
    fails(
        &dir,
        vec![s(&input), "--edge-threshold", "-1"],
        &out,
        &["--edge-threshold"],
    );
    // Clap's own usage errors exit with 2.
    let r = stereosplat(&["render", s(&input), "-o", s(&out), "--layout", "diagonal"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("possible values"), "{}", r.stderr);
}

#[test]
fn depth_that_cannot_be_paired_is_explained() {
    let dir = common::work_dir("cli_depth");
    let input = sample(&dir, (64, 36), 12, 24);
    let out = dir.join("out.mp4");
    // (No depth anywhere is no longer an error: see tests/onnx_depth.rs, built-in estimate.)
    fails(
        &dir,
        vec![s(&input), "--depth", s(&dir.join("missing.mkv"))],
        &out,
        &["missing.mkv", "no such file"],
    );
    // Depth with fewer frames than the video.
    let short = common::work_dir("cli_depth_short");
    stereosplat::media::synth::write_sample(&short, (64, 36), 6, 24).unwrap();
    fails(
        &dir,
        vec![s(&input), "--depth", s(&short.join("sample_depth.mkv"))],
        &out,
        &["6 frames", "re-render the depth", "--frames"],
    );
    // ...which works when only the frames it covers are rendered.
    let r = stereosplat(&[
        "render",
        s(&input),
        "--depth",
        s(&short.join("sample_depth.mkv")),
        "--frames",
        "6",
        "-o",
        s(&out),
        "--speed-preset",
        "ultrafast",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(out.exists());
    std::fs::remove_file(&out).unwrap();
    // Depth of another shape.
    let square = common::work_dir("cli_depth_square");
    stereosplat::media::synth::write_sample(&square, (36, 36), 12, 24).unwrap();
    fails(
        &dir,
        vec![s(&input), "--depth", s(&square.join("sample_depth.mkv"))],
        &out,
        &["aspect", "36x36"],
    );
}

#[test]
fn a_good_render_succeeds_and_names_its_output() {
    let dir = common::work_dir("cli_ok");
    let input = sample(&dir, (64, 36), 6, 24);
    let r = stereosplat(&[
        "render",
        s(&input),
        "-o",
        s(&dir.join("clip.mkv")),
        "--layout",
        "half-sbs",
        "--name-tags",
        "--speed-preset",
        "ultrafast",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        dir.join("clip_LR.mkv").exists(),
        "--name-tags should add _LR"
    );
    assert!(r.stderr.contains("wrote"), "{}", r.stderr);
}

#[test]
fn convergence_files_are_checked() {
    let dir = common::work_dir("cli_convergence");
    let input = sample(&dir, (64, 36), 6, 24);
    let out = dir.join("out.mp4");
    let bad = dir.join("conv.txt");
    std::fs::write(&bad, "2.0\n2.1\nclose\n").unwrap();
    let metric = [
        "--depth-kind",
        "metric",
        "--xfov",
        "60",
        "--convergence-depth-file",
    ];
    let mut args = vec![s(&input)];
    args.extend(metric);
    args.push(s(&bad));
    fails(&dir, args, &out, &["conv.txt", "line 3", "close"]);
    // Every depth kind takes a file, in its own unit.
    fails(
        &dir,
        vec![s(&input), "--convergence-file", s(&bad)],
        &out,
        &["conv.txt", "line 3", "is not a nearness (0 far .. 1 near)"],
    );
    // A typo in --convergence is a usage error (exit code 2).
    let r = stereosplat(&["render", s(&input), "--convergence", "soon", "-o", s(&out)]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("neither a number") && r.stderr.contains("nor `auto`"));
    assert!(!out.exists());
}

#[test]
fn a_full_disk_leaves_no_file_and_says_so() {
    let dir = common::work_dir("cli_disk_full");
    let input = sample(&dir, (320, 180), 48, 24);
    let out = dir.join("out.mkv");
    // 64 KiB file-size limit: the output cannot be written completely.
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -f 64; exec \"{}\" render \"{}\" -o \"{}\" --crf 0",
            common::bin(),
            input.display(),
            out.display()
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("out.mkv"), "{stderr}");
    assert!(stderr.contains("disk may be full"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out.exists());
    let stray: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn odd_frame_sizes_are_padded_for_h264() {
    let dir = common::work_dir("cli_odd_size");
    // 853x481: H.264 4:2:0 needs even sides. FFV1 in 4:4:4 carries the odd size losslessly.
    for (name, format) in [("odd.mkv", "Y444"), ("odd_depth.mkv", "GRAY8")] {
        stereosplat::media::synth::run_launch(&format!(
            "videotestsrc num-buffers=4 pattern=ball ! video/x-raw,format={format},width=853,height=481,framerate=24/1 ! \
             avenc_ffv1 ! matroskamux ! filesink location=\"{}\"",
            dir.join(name).display()
        ))
        .unwrap();
    }
    for (layout, size) in [
        ("sbs", (1706, 482)),
        ("half-sbs", (852, 482)),
        ("tb", (854, 962)),
    ] {
        let out = dir.join(format!("{layout}.mp4"));
        let r = stereosplat(&[
            "render",
            s(&dir.join("odd.mkv")),
            "-o",
            s(&out),
            "--layout",
            layout,
            "--speed-preset",
            "ultrafast",
        ]);
        assert_eq!(r.code, Some(0), "{layout}: {}", r.stderr);
        let mut dec = stereosplat::media::decode::Decoder::open(
            &out,
            stereosplat::media::decode::PixelFormat::Rgba,
            &Default::default(),
        )
        .unwrap();
        assert_eq!((dec.info().width, dec.info().height), size, "{layout}");
        let mut n = 0;
        while dec.next_frame().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 4, "{layout}");
    }
}

#[test]
fn frames_wider_than_the_gpu_allows_are_refused_clearly() {
    let dir = common::work_dir("cli_too_wide");
    // 17000 px wide: over the z-buffer key's 16384 columns and most adapters' texture limit.
    for name in ["wide.png", "wide_depth.png"] {
        stereosplat::media::synth::run_launch(&format!(
            "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=17000,height=8 ! pngenc ! filesink location=\"{}\"",
            dir.join(name).display()
        ))
        .unwrap();
    }
    let out = dir.join("wide_sbs.png");
    fails(
        &dir,
        vec![s(&dir.join("wide.png"))],
        &out,
        &["17000", "at most"],
    );
    // With no depth file the depth is estimated, which resamples whole frames on the GPU:
    // a frame over the adapter's texture limit is refused before any texture is made
    // (this used to abort inside wgpu).
    if common::gpu().device.limits().max_texture_dimension_2d < 17000 {
        std::fs::create_dir_all(dir.join("alone")).unwrap();
        let alone = dir.join("alone").join("wide.png");
        std::fs::copy(dir.join("wide.png"), &alone).unwrap();
        fails(
            &dir.join("alone"),
            vec![s(&alone), "--layout", "half-sbs"],
            &dir.join("alone").join("out.png"),
            &["17000x8", "depth estimation", "--depth"],
        );
    }
}

#[test]
fn warp_bench_runs_without_the_media_stack() {
    let bin = env!("CARGO_BIN_EXE_warp-bench");
    let o = Command::new(bin)
        .args(["--iterations", "2", "96x54"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("warp+compose 96x54 half-sbs, warp at 48x54:")
            && out.contains("warp+compose 96x54 half-sbs, warp at 96x54:")
            && out.contains("GB/s")
            && out.contains("GPU time per pass (ms): resample"),
        "{out}"
    );
    let o = Command::new(bin).arg("12x").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected a size like 1920x1080"));
    // No GStreamer (or GLib) among the libraries it needs, so it starts where they are absent.
    if let Ok(ldd) = Command::new("ldd").arg(bin).output() {
        let libs = String::from_utf8_lossy(&ldd.stdout);
        assert!(
            !libs.contains("gstreamer") && !libs.contains("libglib"),
            "{libs}"
        );
    }
}

#[test]
fn a_layout_that_leaves_no_pixels_is_refused() {
    // One pixel wide: half SBS would have zero columns.
    let dir = common::work_dir("cli_thin");
    for name in ["thin.mkv", "thin_depth.mkv"] {
        stereosplat::media::synth::run_launch(&format!(
            "videotestsrc num-buffers=3 ! video/x-raw,format=I420,width=1,height=16,framerate=24/1 ! matroskamux ! filesink location=\"{}\"",
            dir.join(name).display()
        ))
        .unwrap();
    }
    let input = dir.join("thin.mkv");
    fails(
        &dir,
        vec![
            s(&input),
            "--layout",
            "half-sbs",
            "--depth-kind",
            "disparity",
        ],
        &dir.join("out.mkv"),
        &["leaves no pixels", "--layout"],
    );
}

#[test]
fn no_output_may_be_any_input() {
    // Every file a command reads, against every file it writes, under the same path,
    // another spelling of it and a symbolic link to it: refused with a message, and the
    // input stays byte for byte the same.
    let dir = common::work_dir("cli_overwrite");
    let input = sample(&dir, (64, 36), 6, 24);
    let paired = dir.join("sample_depth.mkv");
    let given = dir.join("given_depth.mkv");
    std::fs::copy(&paired, &given).unwrap();
    let model = dir.join("model.onnx");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny-depth.onnx"),
        &model,
    )
    .unwrap();
    let preset = dir.join("look.toml");
    std::fs::write(&preset, "max_disp = 5.0\n").unwrap();
    let conv = dir.join("conv.txt");
    std::fs::write(&conv, "3.0\n").unwrap();
    let post = dir.join("post.wgsl");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders/post/row_interleaved.wgsl"),
        &post,
    )
    .unwrap();
    let out = dir.join("out.mp4");
    let metric = [
        "--depth-kind",
        "metric",
        "--xfov",
        "60",
        "--convergence-depth-file",
    ];
    // (the input file, the flags that make the command read it)
    let read: Vec<(&Path, Vec<&str>)> = vec![
        (&input, vec![]),
        (&given, vec!["--depth", s(&given)]),
        (&paired, vec![]),
        (&model, vec!["--depth-model", s(&model)]),
        (&preset, vec!["--preset", s(&preset)]),
        (&conv, [metric.as_slice(), &[s(&conv)]].concat()),
        (&post, vec!["--post", s(&post)]),
    ];
    let link = dir.join("link");
    let mut tried = 0;
    for (victim, flags) in &read {
        let before = std::fs::read(victim).unwrap();
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(victim, &link).unwrap();
        let respelled = dir.join(".").join(victim.file_name().unwrap());
        for target in [victim.to_path_buf(), respelled, link.clone()] {
            let as_output = [
                vec!["-o", s(&target)],
                vec!["-o", s(&out), "--mask-out", s(&target)],
            ];
            for writes in as_output {
                let mut args = vec!["render", s(&input)];
                args.extend(flags.iter().copied());
                args.extend(writes);
                let r = stereosplat(&args);
                assert_eq!(r.code, Some(1), "{args:?}: {}", r.stderr);
                assert!(
                    r.stderr.contains("would destroy that input"),
                    "{args:?}: {}",
                    r.stderr
                );
                assert_eq!(
                    std::fs::read(victim).unwrap(),
                    before,
                    "{args:?} changed it"
                );
                assert!(!out.exists());
                tried += 1;
            }
        }
    }
    assert_eq!(tried, 7 * 3 * 2);
    // The depth command's output against its input and its model.
    for (victim, flags) in [(&input, vec![]), (&model, vec!["--depth-model", s(&model)])] {
        let before = std::fs::read(victim).unwrap();
        let mut args = vec!["depth", s(&input), "-o", s(victim)];
        args.extend(flags);
        let r = stereosplat(&args);
        assert_eq!(r.code, Some(1), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("would destroy that input"),
            "{}",
            r.stderr
        );
        assert_eq!(&std::fs::read(victim).unwrap(), &before);
    }
}

#[test]
fn setup_without_rust_gives_the_line_that_installs_it() {
    // A fresh Debian 12 has no Rust (or, with its own packages, one too old): .ci/setup
    // says so first, with the exact command, instead of a compiler error later.
    let out = Command::new("bash")
        .arg(".ci/setup")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("sh.rustup.rs") && err.contains("1.95.0"),
        "{err}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("installing"),
        "it went on to install packages"
    );
}
