//! Fuzzing on stable Rust (the project's only toolchain has no cargo-fuzz): every parser of
//! user text gets thousands of generated and mutated inputs, and the binary gets corrupted
//! and truncated media, depth and model files. Nothing may panic or crash; a failure must
//! be an ordinary error exit with a message, leaving no output behind. Seeds are fixed so
//! a failure reproduces.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use stereosplat::depth::convergence::ConvergenceTrack;
use stereosplat::depth::normalize::FrameStats;
use stereosplat::preset::Preset;
use stereosplat::stereo::DepthKind::{Metric as METRIC, Relative as RELATIVE};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Text built from fragments that parsers care about, plus raw noise.
fn text(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "0",
        "1",
        "-1",
        "3/8",
        "/",
        "8/3",
        "0/0",
        "18446744073709551616",
        "1e309",
        "NaN",
        "inf",
        "-0",
        " ",
        "\n",
        "#",
        "=",
        "\"",
        "[",
        "]",
        "{",
        "}",
        ",",
        ".",
        "max_disp",
        "layout",
        "\"half-sbs\"",
        "true",
        "0.5",
        "é",
        "\u{0}",
        "\r\n",
        "\t",
        "max_disp = ",
        "= 3",
        "[[x]]",
        "post = \"a.wgsl\"",
        "eye = \"both\"",
    ];
    let mut s = String::new();
    for _ in 0..rng.below(24) {
        if rng.below(5) == 0 {
            s.push(char::from_u32(rng.below(0x3000) as u32).unwrap_or('?'));
        } else {
            s.push_str(PIECES[rng.below(PIECES.len())]);
        }
    }
    s
}

#[test]
fn text_parsers_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..20_000 {
        let t = text(&mut rng);
        // --shard I/N: valid results are always a share of N.
        if let Ok((i, n)) = stereosplat::batch::parse_shard(&t) {
            assert!(n > 0 && i < n, "{t:?} -> {i}/{n}");
        }
        // --convergence-depth-file: values that parse are finite and positive.
        let smooth = 1 + rng.below(5) as u32;
        if let Ok(track) = ConvergenceTrack::parse(&t, Path::new("fuzz.txt"), METRIC, smooth) {
            for i in 0..4 {
                let v = track.at(i);
                assert!(v.is_finite() && v > 0.0, "{t:?} -> {v}");
            }
        }
        // --convergence-file for relative depth: finite values.
        if let Ok(track) = ConvergenceTrack::parse(&t, Path::new("fuzz.txt"), RELATIVE, smooth) {
            assert!(track.values().iter().all(|v| v.is_finite()), "{t:?}");
        }
        // --depth-curve: parsed curves keep their ends.
        if let Ok(curve) = t.parse::<stereosplat::stereo::DepthCurve>() {
            let shape = stereosplat::stereo::Shape {
                curve,
                foreground_scale: 1.0,
            };
            assert!(shape.apply(0.0).abs() < 1e-4 && (shape.apply(1.0) - 1.0).abs() < 1e-4);
        }
        // Presets (TOML).
        let _ = toml::from_str::<Preset>(&t);
        // The depth cache's per-frame statistics (JSON written by us, read back).
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&t) {
            let _ = FrameStats::from_json(&v);
        }
        // --adapter accepts anything and decides later.
        let _: stereosplat::gpu::AdapterChoice = t.parse().unwrap();
    }
}

#[test]
fn depth_codecs_hold_for_any_value() {
    use stereosplat::depth::codec::{metres_per_rgb_step, metric_from_rgb, rgb_from_metric};
    let mut rng = Rng(0xc0dec);
    let specials = [
        f64::NAN,
        f64::INFINITY,
        -f64::INFINITY,
        -1.0,
        0.0,
        1e-300,
        1e300,
    ];
    for i in 0..200_000 {
        let max = [0.5, 1.0, 20.0, 80.0, 1000.0][i % 5];
        let z = if i % 97 == 0 {
            specials[rng.below(specials.len())]
        } else {
            f64::from_bits(rng.next()) % (2.0 * max)
        };
        let rgb = rgb_from_metric(z, max);
        assert_eq!(rgb[0], rgb[1], "R = G in the toolbox's encoding");
        let back = metric_from_rgb(rgb, max);
        assert!(
            (0.0..=max).contains(&back),
            "z {z} max {max}: decoded {back}"
        );
        if (0.0..max).contains(&z) {
            assert!(
                z - back >= 0.0 && z - back < metres_per_rgb_step(max),
                "z {z}: {back}"
            );
        }
    }
    // Every 16-bit value the GPU can read decodes into range.
    for v in 0..=u16::MAX {
        let rgb = [(v >> 8) as u8, (v >> 8) as u8, (v & 255) as u8];
        let z = metric_from_rgb(rgb, 20.0);
        assert!((0.0..=20.0).contains(&z));
    }
}

#[test]
fn preset_mutations_are_errors_or_valid_presets() {
    let mut rng = Rng(0x0dd_ba11);
    let good = toml::to_string_pretty(&Preset::default()).unwrap();
    let lines: Vec<&str> = good.lines().collect();
    for _ in 0..3_000 {
        let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        for _ in 0..1 + rng.below(3) {
            let i = rng.below(l.len());
            match rng.below(4) {
                0 => l[i] = text(&mut rng),
                1 => {
                    l.remove(i);
                }
                2 => l.insert(i, l[i].clone()),
                _ => l[i] = l[i].replace(" = ", &format!(" = {}", text(&mut rng))),
            }
            if l.is_empty() {
                break;
            }
        }
        if let Ok(p) = toml::from_str::<Preset>(&l.join("\n")) {
            // Whatever parses round-trips.
            let again = toml::to_string_pretty(&p).unwrap();
            assert_eq!(toml::from_str::<Preset>(&again).unwrap(), p);
        }
    }
}

/// Runs the binary; it must end with 0 or an ordinary error (1 or clap's 2) and never a
/// panic (101) or a signal.
fn run_clean(args: &[&str], out: &Path) -> bool {
    let o = Command::new(common::bin()).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    let code = o.status.code();
    assert!(
        matches!(code, Some(0..=2)),
        "{args:?} ended with {:?}\n{stderr}",
        o.status
    );
    assert!(!stderr.contains("panicked"), "{args:?}\n{stderr}");
    if code != Some(0) {
        assert!(stderr.contains("error"), "a failure says why: {stderr}");
        assert!(!out.exists(), "{args:?} failed but left {}", out.display());
    }
    code == Some(0)
}

/// `count` corruptions of `bytes`: flipped bytes, zeroed runs, truncations.
fn corruptions(bytes: &[u8], rng: &mut Rng, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|k| {
            let mut b = bytes.to_vec();
            match k % 3 {
                0 => {
                    for _ in 0..1 + rng.below(16) {
                        let i = rng.below(b.len());
                        b[i] ^= 1 << rng.below(8);
                    }
                }
                1 => {
                    let start = rng.below(b.len());
                    let end = (start + 1 + rng.below(4096)).min(b.len());
                    b[start..end].fill(0);
                }
                _ => b.truncate(rng.below(b.len())),
            }
            b
        })
        .collect()
}

#[test]
fn corrupted_media_depth_and_models_fail_cleanly() {
    let dir = common::work_dir("fuzz_media");
    stereosplat::media::synth::write_sample(&dir, (64, 36), 12, 24).unwrap();
    let video = std::fs::read(dir.join("sample.mp4")).unwrap();
    let depth = std::fs::read(dir.join("sample_depth.mkv")).unwrap();
    let model = std::fs::read("models/tiny-depth.onnx").unwrap();
    let mut rng = Rng(0xfeed_f00d_1234_5678);
    let s = |p: &Path| p.to_str().unwrap().to_owned();

    // A clip and its depth beside it, one of them corrupted: the render must fail cleanly.
    let render_pair = |case: PathBuf, clip: &[u8], depth: &[u8]| {
        std::fs::create_dir_all(&case).unwrap();
        std::fs::write(case.join("clip.mp4"), clip).unwrap();
        std::fs::write(case.join("clip_depth.mkv"), depth).unwrap();
        let out = case.join("out.mp4");
        run_clean(
            &[
                "render",
                &s(&case.join("clip.mp4")),
                "-o",
                &s(&out),
                "--speed-preset",
                "ultrafast",
            ],
            &out,
        );
    };
    for (i, bad) in corruptions(&video, &mut rng, 9).into_iter().enumerate() {
        render_pair(dir.join(format!("v{i}")), &bad, &depth);
    }
    for (i, bad) in corruptions(&depth, &mut rng, 6).into_iter().enumerate() {
        render_pair(dir.join(format!("d{i}")), &video, &bad);
    }
    for (i, bad) in corruptions(&model, &mut rng, 6).into_iter().enumerate() {
        let case = dir.join(format!("m{i}"));
        std::fs::create_dir_all(&case).unwrap();
        let m = case.join("model.onnx");
        std::fs::write(&m, bad).unwrap();
        let out = case.join("depth.mkv");
        run_clean(
            &[
                "depth",
                &s(&dir.join("sample.mp4")),
                "-o",
                &s(&out),
                "--depth-model",
                &s(&m),
                "--no-cache",
            ],
            &out,
        );
    }
}
