//! Depth estimation through the real ONNX Runtime (the library `.ci/setup` installs into
//! .venv/) with the tiny models in models/, and the built-in cue estimate: the values
//! against a CPU reference, static and dynamic shapes, batching, the cache, temporal
//! normalisation, exports read back as --depth, and every bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use stereosplat::media::decode::{DecodeOptions, Decoder, PixelFormat};

const TINY: &str = "models/tiny-depth.onnx";
const TINY_STATIC: &str = "models/tiny-depth-static.onnx";

struct Run {
    code: Option<i32>,
    stderr: String,
}

fn stereosplat(args: &[&str]) -> Run {
    let o = Command::new(common::bin())
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .expect("run stereosplat");
    Run {
        code: o.status.code(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn ok(args: &[&str]) -> String {
    let r = stereosplat(args);
    assert_eq!(r.code, Some(0), "stereosplat {args:?}\n{}", r.stderr);
    r.stderr
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small random generator (tests must be reproducible).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn gradient_frame((w, h): (u32, u32)) -> Vec<u8> {
    let mut rgba = Vec::new();
    for y in 0..h {
        for x in 0..w {
            rgba.extend_from_slice(&[(x * 2) as u8, (y * 4) as u8, 128, 255]);
        }
    }
    rgba
}

#[test]
fn model_depth_matches_a_cpu_reference() {
    let dir = common::work_dir("onnx_reference");
    let size = (112u32, 56u32);
    let img = dir.join("photo.png");
    let rgba = gradient_frame(size);
    common::write_rgba(&img, size, vec![rgba.clone()], 0);
    let out = dir.join("photo_depth.png");
    // Short side 56 = 4 x 14: the model sees the image at its own size, no resampling.
    let log = ok(&[
        "depth",
        s(&img),
        "-o",
        s(&out),
        "--depth-model",
        TINY,
        "--depth-size",
        "56",
        "--normalize",
        "frame",
        "--no-cache",
    ]);
    assert!(log.contains("runs on CPUExecutionProvider"), "{log}");
    assert!(log.contains("input `pixel_values`"), "{log}");

    // CPU reference: ImageNet-normalised channel mean, 3x3 box with edge padding,
    // then the frame's min..max to 0..65535.
    let (w, h) = (size.0 as usize, size.1 as usize);
    let mean = [0.485f64, 0.456, 0.406];
    let std = [0.229f64, 0.224, 0.225];
    let grey = |x: usize, y: usize| {
        let p = &rgba[(y * w + x) * 4..];
        (0..3)
            .map(|c| (f64::from(p[c]) / 255.0 - mean[c]) / std[c])
            .sum::<f64>()
            / 3.0
    };
    let mut reference = Vec::new();
    for y in 0..h as isize {
        for x in 0..w as isize {
            let mut sum = 0.0;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let cx = (x + dx).clamp(0, w as isize - 1) as usize;
                    let cy = (y + dy).clamp(0, h as isize - 1) as usize;
                    sum += grey(cx, cy);
                }
            }
            reference.push(sum / 9.0);
        }
    }
    let lo = reference.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = reference.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let (frames, got_size) = common::read_gray16(&out);
    assert_eq!(got_size, size);
    assert_eq!(frames.len(), 1);
    let worst = frames[0]
        .iter()
        .zip(&reference)
        .map(|(&g, r)| (f64::from(g) - (r - lo) / (hi - lo) * 65535.0).abs())
        .fold(0.0, f64::max);
    assert!(worst <= 4.0, "largest error {worst} of 65535");
}

#[test]
fn static_model_with_4d_output_and_batches_give_the_same_depth() {
    let dir = common::work_dir("onnx_shapes");
    let size = (64u32, 36u32);
    let clip = dir.join("clip.mkv");
    let mut rng = Lcg(7);
    let frames: Vec<Vec<u8>> = (0..10)
        .map(|_| {
            let mut f = gradient_frame(size);
            for v in f.iter_mut() {
                *v = v.saturating_add((rng.next() * 20.0) as u8);
            }
            f
        })
        .collect();
    common::write_rgba(&clip, size, frames, 24);

    // Dynamic model, one frame per call and four per call (10 = 4 + 4 + 2).
    let one = dir.join("one.mkv");
    let four = dir.join("four.mkv");
    let cache = dir.join("cache");
    ok(&[
        "depth",
        s(&clip),
        "-o",
        s(&one),
        "--depth-model",
        TINY,
        "--depth-size",
        "36",
        "--no-cache",
    ]);
    let log = ok(&[
        "depth",
        s(&clip),
        "-o",
        s(&four),
        "--depth-model",
        TINY,
        "--depth-size",
        "36",
        "--batch-size",
        "4",
        "--cache-dir",
        s(&cache),
    ]);
    assert!(!log.contains("inference skipped"), "{log}");
    let (a, a_size) = common::read_gray16(&one);
    let (b, _) = common::read_gray16(&four);
    assert_eq!(a.len(), 10);
    // Fed at 70x42 (short side 36 -> 42, long side 64 -> 70: multiples of 14), stored at
    // the clip's 16:9 shape.
    assert_eq!(a_size, (75, 42));
    assert_eq!(a, b, "batching must not change the depth");

    // Static [1,3,126,224] model with a [1,1,H,W] output: fed at its own size, batch 1,
    // and the map is stored at the clip's aspect ratio.
    let fixed = dir.join("static.mkv");
    let log = ok(&[
        "depth",
        s(&clip),
        "-o",
        s(&fixed),
        "--depth-model",
        TINY_STATIC,
        "--batch-size",
        "4",
        "--depth-size",
        "126",
        "--no-cache",
    ]);
    assert!(log.contains("[1, 3, 126, 224]"), "{log}");
    assert!(log.contains("batches of 1"), "{log}");
    let (c, c_size) = common::read_gray16(&fixed);
    assert_eq!(c.len(), 10);
    assert_eq!(c_size, (224, 126));
}

#[test]
fn second_render_reuses_the_cached_depth_and_runs_no_model() {
    let dir = common::work_dir("onnx_cache");
    let input = dir.join("clip.mp4");
    stereosplat::media::synth::colour_clip(&input, (64, 36), 12, 24, false).unwrap();
    let cache = dir.join("cache");
    let args = |out: &Path| -> Vec<String> {
        [
            "render",
            s(&input),
            "-o",
            s(out),
            "--depth-model",
            TINY,
            "--depth-size",
            "42",
            "--cache-dir",
            s(&cache),
            "--speed-preset",
            "ultrafast",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let first_out = dir.join("first.mp4");
    let first = ok(&args(&first_out)
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert!(first.contains("runs on CPUExecutionProvider"), "{first}");
    assert!(first.contains("depth estimated for 12 frames"), "{first}");
    let second_out = dir.join("second.mp4");
    let second = ok(&args(&second_out)
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert!(second.contains("inference skipped"), "{second}");
    assert!(second.contains("depth from the cache"), "{second}");
    assert!(
        !second.contains("runs on"),
        "the model must not even load:\n{second}"
    );
    assert!(first_out.is_file() && second_out.is_file());

    // A changed setting (the model's input size) is a different estimate.
    let third = ok(&[
        "render",
        s(&input),
        "-o",
        s(&dir.join("third.mp4")),
        "--depth-model",
        TINY,
        "--depth-size",
        "28",
        "--cache-dir",
        s(&cache),
        "--speed-preset",
        "ultrafast",
    ]);
    assert!(third.contains("depth estimated for 12 frames"), "{third}");
}

/// Mean absolute change between consecutive frames, in 0..1 of the depth range.
fn flicker(frames: &[Vec<u16>]) -> f64 {
    let mut total = 0.0;
    for pair in frames.windows(2) {
        let d: f64 = pair[0]
            .iter()
            .zip(&pair[1])
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
            .sum();
        total += d / pair[0].len() as f64 / 65535.0;
    }
    total / (frames.len() - 1) as f64
}

#[test]
fn temporal_normalisation_halves_flicker_on_a_noisy_static_scene() {
    let dir = common::work_dir("onnx_flicker");
    let size = (64u32, 36u32);
    let (w, h) = (size.0 as usize, size.1 as usize);
    // A static scene; each frame adds sensor noise and a few bright or dark specks (what
    // makes a model's per-frame extremes jump).
    let mut rng = Lcg(42);
    let frames: Vec<Vec<u8>> = (0..24)
        .map(|_| {
            let mut f = Vec::with_capacity(w * h * 4);
            for _ in 0..h {
                for x in 0..w {
                    let base = 80.0 + 90.0 * (x as f32 / w as f32) + rng.next() * 6.0;
                    let v = base as u8;
                    f.extend_from_slice(&[v, v, v, 255]);
                }
            }
            for _ in 0..(rng.next() * 4.0) as usize {
                let (cx, cy) = (
                    (rng.next() * (w - 4) as f32) as usize,
                    (rng.next() * (h - 4) as f32) as usize,
                );
                let v = if rng.next() < 0.5 {
                    (rng.next() * 40.0) as u8
                } else {
                    215 + (rng.next() * 40.0) as u8
                };
                for y in cy..cy + 4 {
                    for x in cx..cx + 4 {
                        f[(y * w + x) * 4..(y * w + x) * 4 + 3].fill(v);
                    }
                }
            }
            f
        })
        .collect();
    let clip = dir.join("static.mkv");
    common::write_rgba(&clip, size, frames, 24);
    let cache = dir.join("cache");
    let mut result = Vec::new();
    for mode in ["frame", "ema", "clip"] {
        let out = dir.join(format!("{mode}.mkv"));
        ok(&[
            "depth",
            s(&clip),
            "-o",
            s(&out),
            "--depth-model",
            TINY,
            "--depth-size",
            "36",
            "--normalize",
            mode,
            "--cache-dir",
            s(&cache),
        ]);
        let (maps, _) = common::read_gray16(&out);
        assert_eq!(maps.len(), 24);
        result.push((mode, flicker(&maps)));
    }
    let per_frame = result[0].1;
    for &(mode, f) in &result[1..] {
        assert!(
            f <= per_frame * 0.5,
            "{mode}: frame-to-frame change {f:.5} vs per-frame normalisation {per_frame:.5}"
        );
    }
}

#[test]
fn exports_are_accepted_back_as_depth_including_the_toolbox_rgb_round_trip() {
    let dir = common::work_dir("onnx_export");
    let size = (64u32, 36u32);
    // Bright frames: the tiny model's output (normalised grey) is positive there, so it
    // can stand in for a metric model (metres).
    let frames: Vec<Vec<u8>> = (0..6)
        .map(|i| {
            let mut f = Vec::new();
            for y in 0..size.1 {
                for x in 0..size.0 {
                    let v = (150 + x / 2 + y + i * 3).min(255) as u8;
                    f.extend_from_slice(&[v, v, v, 255]);
                }
            }
            f
        })
        .collect();
    let clip = dir.join("clip.mkv");
    common::write_rgba(&clip, size, frames, 24);
    let cache = dir.join("cache");
    let model = [
        "--depth-model",
        TINY,
        "--depth-size",
        "36",
        "--cache-dir",
        s(&cache),
    ];

    // Relative, 16 and 8 bit, each rendered back with --depth.
    for (format, name) in [("gray16", "rel16.mkv"), ("gray8", "rel8.mkv")] {
        let out = dir.join(name);
        let mut a = vec!["depth", s(&clip), "-o", s(&out), "--format", format];
        a.extend(model);
        ok(&a);
        let (maps, _) = common::read_gray16(&out);
        assert_eq!(maps.len(), 6);
        let stereo = dir.join(format!("{format}_sbs.mp4"));
        ok(&[
            "render",
            s(&clip),
            "--depth",
            s(&out),
            "-o",
            s(&stereo),
            "--speed-preset",
            "ultrafast",
        ]);
        assert!(stereo.is_file());
    }

    // Metric: millimetres in 16 bits and the toolbox's RGB encoding must agree to within
    // one RGB step (SPEC section 2), and both render as metric depth.
    let mm = dir.join("metric_mm.mkv");
    let rgb = dir.join("metric_rgb.mkv");
    let mut a = vec!["depth", s(&clip), "-o", s(&mm), "--depth-kind", "metric"];
    a.extend(model);
    let log = ok(&a);
    assert!(log.contains("--depth-scale 0.001"), "{log}");
    let mut a = vec![
        "depth",
        s(&clip),
        "-o",
        s(&rgb),
        "--depth-kind",
        "metric",
        "--format",
        "rgb",
        "--max-depth",
        "5",
    ];
    a.extend(model);
    ok(&a);
    let (mm_maps, _) = common::read_gray16(&mm);
    let mut dec = Decoder::open(&rgb, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
    let step = stereosplat::depth::codec::metres_per_rgb_step(5.0);
    let mut frames = 0;
    while let Some(f) = dec.next_frame().unwrap() {
        let stride = f.stride_bytes() as usize;
        let d = f.data();
        for (i, &mm) in mm_maps[frames].iter().enumerate() {
            let (x, y) = (i % f.width() as usize, i / f.width() as usize);
            let p = &d[y * stride + 4 * x..];
            let z = stereosplat::depth::codec::metric_from_rgb([p[0], p[1], p[2]], 5.0);
            assert!(mm > 0, "bright frames give positive metres");
            assert!(
                (z - f64::from(mm) / 1000.0).abs() <= step + 0.0006,
                "rgb {z} m vs {mm} mm"
            );
        }
        frames += 1;
    }
    assert_eq!(frames, 6);
    for (depth, extra) in [
        (&mm, vec!["--depth-scale", "0.001"]),
        (&rgb, vec!["--depth-rgb", "--max-depth", "5"]),
    ] {
        let out = dir.join(format!(
            "{}_sbs.mp4",
            depth.file_stem().unwrap().to_str().unwrap()
        ));
        let mut a = vec![
            "render",
            s(&clip),
            "--depth",
            s(depth),
            "-o",
            s(&out),
            "--depth-kind",
            "metric",
            "--xfov",
            "60",
            "--speed-preset",
            "ultrafast",
        ];
        a.extend(extra);
        ok(&a);
    }
}

#[test]
fn without_any_depth_the_built_in_estimate_renders_with_a_warning() {
    let dir = common::work_dir("onnx_default");
    let input = dir.join("lonely.mp4");
    std::fs::copy("assets/sample.mp4", &input).unwrap();
    let out = dir.join("lonely_sbs.mp4");
    let cache = dir.join("cache");
    let log = ok(&[
        "render",
        s(&input),
        "-o",
        s(&out),
        "--frames",
        "24",
        "--cache-dir",
        s(&cache),
        "--speed-preset",
        "ultrafast",
    ]);
    assert!(
        log.contains("built-in depth estimate") && log.contains("--depth-model"),
        "{log}"
    );
    let mut dec = Decoder::open(&out, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
    assert_eq!((dec.info().width, dec.info().height), (960, 270));
    let mut n = 0;
    let mut differs = false;
    while let Some(f) = dec.next_frame().unwrap() {
        // Side by side: the synthesised right eye is not a copy of the left.
        let stride = f.stride_bytes() as usize;
        let d = f.data();
        let diff: u64 = (0..270)
            .flat_map(|y| (0..480).map(move |x| (y, x)))
            .map(|(y, x)| u64::from(d[y * stride + 4 * x].abs_diff(d[y * stride + 4 * (x + 480)])))
            .sum();
        differs |= diff > 480 * 270;
        n += 1;
    }
    assert_eq!(n, 24);
    assert!(differs, "the right eye must show parallax");

    // The estimate itself: the ground plane (lower in the frame) comes out nearer.
    let depth = dir.join("lonely_depth_export.mkv");
    ok(&[
        "depth",
        s(&input),
        "-o",
        s(&depth),
        "--frames",
        "24",
        "--cache-dir",
        s(&cache),
    ]);
    let (maps, (w, h)) = common::read_gray16(&depth);
    assert_eq!(maps.len(), 24);
    let row_mean = |m: &Vec<u16>, y0: u32, y1: u32| {
        let v: Vec<f64> = (y0..y1)
            .flat_map(|y| (0..w).map(move |x| (y * w + x) as usize))
            .map(|i| f64::from(m[i]))
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let last = maps.last().unwrap();
    assert!(
        row_mean(last, h * 3 / 4, h) > row_mean(last, 0, h / 4) + 10_000.0,
        "bottom should be nearer than top"
    );
    assert!(
        flicker(&maps) < 0.02,
        "the estimate must be steady: {}",
        flicker(&maps)
    );
}

#[test]
fn bad_models_libraries_and_providers_are_clear_errors_with_no_output() {
    let dir = common::work_dir("onnx_errors");
    let input = dir.join("clip.mp4");
    stereosplat::media::synth::colour_clip(&input, (64, 36), 4, 24, false).unwrap();
    let out = dir.join("out.mp4");
    let text = dir.join("notes.onnx");
    std::fs::write(&text, "this is not a model\n").unwrap();
    let fails = |extra: &[&str], wanted: &[&str]| {
        let mut a = vec!["render", s(&input), "-o", s(&out), "--no-cache"];
        a.extend_from_slice(extra);
        let r = stereosplat(&a);
        assert_ne!(r.code, Some(0), "{a:?} should fail");
        for w in wanted {
            assert!(
                r.stderr.contains(w),
                "{a:?}: expected {w:?} in\n{}",
                r.stderr
            );
        }
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert!(!out.exists(), "no output after a failure");
        let leftovers: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    };
    fails(
        &["--depth-model", s(&dir.join("missing.onnx"))],
        &["missing.onnx", "no such file"],
    );
    fails(&["--depth-model", s(&text)], &["not a usable ONNX model"]);
    fails(
        &["--depth-model", "tests/fixtures/not-an-image.onnx"],
        &["features", "neither [batch, 3, height, width]"],
    );
    // A 7280x4102 model input is 358 MB of floats: more than lavapipe's 128 MiB buffers.
    let limits = common::gpu().device.limits();
    if limits.max_storage_buffer_binding_size < 358_000_000 {
        fails(
            &["--depth-model", TINY, "--depth-size", "4096"],
            &["7280x4102 model input", "use a smaller --depth-size"],
        );
    }
    fails(
        &["--depth-model", TINY, "--ep", "cuda"],
        &[
            "CUDAExecutionProvider is not available",
            "available: ",
            "CPUExecutionProvider",
        ],
    );
    fails(
        &["--depth-model", TINY, "--ort-lib", s(&dir.join("nope.so"))],
        &["nope.so", "onnxruntime==1.31.1"],
    );
    // A shared library that is not ONNX Runtime.
    let not_ort = [
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists());
    if let Some(lib) = not_ort {
        fails(
            &["--depth-model", TINY, "--ort-lib", lib],
            &["OrtGetApiBase", "onnxruntime==1.31.1"],
        );
    }
    fails(
        &["--depth-model", TINY, "--depth-kind", "disparity"],
        &["--depth-kind"],
    );
    fails(
        &["--depth-model", TINY, "--batch-size", "0"],
        &["--batch-size"],
    );
    fails(
        &["--depth-kind", "metric", "--xfov", "60"],
        &["metric model"],
    );
    let r = stereosplat(&[
        "depth",
        s(&input),
        "-o",
        s(&dir.join("d.mp4")),
        "--depth-model",
        TINY,
        "--no-cache",
    ]);
    assert_ne!(r.code, Some(0));
    assert!(r.stderr.contains(".mkv"), "{}", r.stderr);
    let r = stereosplat(&[
        "depth",
        s(&input),
        "-o",
        s(&dir.join("d.mkv")),
        "--format",
        "rgb",
        "--depth-model",
        TINY,
        "--no-cache",
    ]);
    assert_ne!(r.code, Some(0));
    assert!(r.stderr.contains("metric"), "{}", r.stderr);
}

#[test]
fn a_long_strip_is_estimated_at_its_own_length() {
    // 1000:1. The model input's long side used to grow with its short side (252000 px
    // for the built-in estimate), past every GPU buffer: wgpu aborted the program.
    let dir = common::work_dir("onnx_strip");
    let input = dir.join("strip.png");
    stereosplat::media::synth::run_launch(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=16000,height=16 ! pngenc ! \
         filesink location=\"{}\"",
        s(&input)
    ))
    .unwrap();
    let out = dir.join("strip_sbs.png");
    let log = ok(&[
        "render",
        s(&input),
        "-o",
        s(&out),
        "--layout",
        "half-sbs",
        "--no-cache",
    ]);
    assert!(log.contains("model input 16002x14"), "{log}");
    let mut dec = Decoder::open(&out, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
    assert_eq!((dec.info().width, dec.info().height), (16000, 16));
    assert!(dec.next_frame().unwrap().is_some());
}
