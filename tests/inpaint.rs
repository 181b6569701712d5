//! The model fill (issue #23) through ONNX Runtime and the command line, with the tiny
//! inpainting models of `models/make_tiny_inpaint.py` (a normalised 7x7 box blur of the
//! known pixels): the filled pixels equal a CPU reference of the model on the same tiles,
//! only hole pixels change against `--fill background`, every input layout and value
//! range gives the same fill, a frame without holes runs no inference, and a still
//! scene's fill holds steady over time and starts afresh at a cut.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use stereosplat::cpu::{CpuWarper, DepthFormat, RawDepth, Rgba};
use stereosplat::inpaint::tiles::{self, feather};
use stereosplat::inpaint::{InpaintOptions, Inpainter};
use stereosplat::onnx::Ep;
use stereosplat::stereo::{DepthRange, StereoParams, frame_params};

fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A hash-based texture: every pixel differs from its neighbours.
fn speckle(x: u32, y: u32, seed: u32) -> [u8; 3] {
    let h =
        (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663) ^ seed.wrapping_mul(83_492_791))
            .wrapping_mul(2_654_435_761);
    [(h >> 24) as u8, (h >> 16) as u8, (h >> 8) as u8]
}

fn texture((w, h): (u32, u32), seed: u32) -> Vec<u8> {
    (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .flat_map(|(x, y)| {
            let [r, g, b] = speckle(x / 2, y / 2, seed);
            [r, g, b, 255]
        })
        .collect()
}

/// Nearness: a near vertical band (1.0) in front of a far wall (0.2): the right eye
/// uncovers a strip beside the band.
fn band_depth((w, h): (u32, u32)) -> Vec<u16> {
    (0..h)
        .flat_map(|_| {
            (0..w).map(move |x| {
                if (w / 3..w / 2).contains(&x) {
                    65535
                } else {
                    13107
                }
            })
        })
        .collect()
}

fn stereosplat(args: &[&str]) -> (bool, String) {
    let o = Command::new(common::bin())
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (success, log) = stereosplat(args);
    assert!(success, "stereosplat {args:?} failed:\n{log}");
    log
}

#[test]
fn the_model_fills_exactly_what_a_cpu_reference_of_it_gives_on_the_same_tiles() {
    let size = (200u32, 120u32);
    let rgba = texture(size, 3);
    let depth: Vec<u8> = band_depth(size)
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let stereo = StereoParams {
        max_disparity_px: 12.0,
        ..Default::default()
    };
    let range = DepthRange::default();
    let mut warper = CpuWarper::new(size, size, stereo.eye, size);
    let params = frame_params(&stereo, &range, size, size, size);
    warper.warp(
        Rgba {
            data: &rgba,
            stride: size.0 as usize * 4,
            size,
        },
        RawDepth {
            data: &depth,
            stride: size.0 as usize * 2,
            size,
            format: DepthFormat::of(false, false),
        },
        &params,
    );
    let options = InpaintOptions {
        model: None,
        tile: 64,
        temporal: 0.0,
        ..Default::default()
    };
    let mut inp = Inpainter::open(&model("tiny-inpaint.onnx"), &options, Ep::Cpu, None).unwrap();
    let (filled, warped) = warper.eyes_to_repaint().next().unwrap();
    let background = filled.to_vec();
    let warped = warped.to_vec();
    inp.fill(0, filled, &warped, size).unwrap();
    let filled = filled.to_vec();

    let (w, h) = (size.0 as usize, size.1 as usize);
    let holes: Vec<bool> = warped.chunks_exact(4).map(|p| p[3] == 0).collect();
    let hole = |x: u32, y: u32| holes[y as usize * w + x as usize];
    let n_holes = holes.iter().filter(|&&h| h).count();
    assert!(n_holes > 200, "the scene has holes ({n_holes})");
    // The reference: the tiles the fill uses, and in each the blur of its known pixels.
    let plan = tiles::plan(size, (64, 64), 16, &hole);
    let mut expected = background.clone();
    for t in &plan {
        for y in t.core.y..t.core.y + t.core.h {
            for x in t.core.x..t.core.x + t.core.w {
                if !hole(x, y) {
                    continue;
                }
                let (mut sum, mut n) = ([0.0f64; 3], 0.0f64);
                for yy in y.saturating_sub(3)..=(y + 3).min(t.y + t.h - 1) {
                    for xx in x.saturating_sub(3)..=(x + 3).min(t.x + t.w - 1) {
                        if yy < t.y || xx < t.x || hole(xx, yy) {
                            continue;
                        }
                        let i = (yy as usize * w + xx as usize) * 4;
                        for c in 0..3 {
                            sum[c] += f64::from(background[i + c]) / 255.0;
                        }
                        n += 1.0;
                    }
                }
                let f = f64::from(feather(size, x, y, &hole));
                let i = (y as usize * w + x as usize) * 4;
                for c in 0..3 {
                    let m = if n > 0.0 { sum[c] / n } else { 0.0 };
                    let v = f * m * 255.0 + (1.0 - f) * f64::from(background[i + c]);
                    expected[i + c] = v.round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    let mut worst = 0;
    for i in 0..w * h {
        for c in 0..4 {
            let d = filled[i * 4 + c].abs_diff(expected[i * 4 + c]);
            if !holes[i] {
                assert_eq!(d, 0, "covered pixel {i} changed");
            }
            worst = worst.max(d);
        }
    }
    assert!(
        worst <= 1,
        "hole pixels differ from the reference by {worst}"
    );
    let changed = (0..w * h)
        .filter(|&i| filled[i * 4..i * 4 + 3] != background[i * 4..i * 4 + 3])
        .count();
    assert!(
        changed > n_holes / 2,
        "the model changed {changed} of {n_holes} holes"
    );
    assert_eq!(
        inp.calls(),
        plan.len().div_ceil(4) as u64,
        "batches of 4 tiles"
    );
}

/// A still scene (photo.png, photo_depth.png) in a fresh folder.
fn still(name: &str, size: (u32, u32)) -> (PathBuf, PathBuf) {
    let dir = common::work_dir(name);
    let photo = dir.join("photo.png");
    common::write_png(&photo, size, "RGBA", texture(size, 5));
    let bytes = band_depth(size)
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    common::write_png(&dir.join("photo_depth.png"), size, "GRAY16_BE", bytes);
    (dir, photo)
}

#[test]
fn only_holes_change_every_layout_and_range_fills_alike_and_no_holes_no_inference() {
    let size = (240u32, 136u32);
    let (dir, photo) = still("inpaint_cli", size);
    let render = |name: &str, extra: &[&str]| -> (Vec<u8>, String) {
        let out = dir.join(name);
        let layout = if name == "holes.png" {
            "holes"
        } else {
            "right"
        };
        let strength = if name == "flat.png" { "0" } else { "14" };
        let mut a = vec![
            "render",
            s(&photo),
            "-o",
            s(&out),
            "--layout",
            layout,
            "--max-disp",
            strength,
        ];
        a.extend_from_slice(extra);
        let log = ok(&a);
        (common::read_rgba(&out).0, log)
    };
    let (background, _) = render("background.png", &[]);
    // The holes as the `holes` layout shows them (white): what the model is given.
    let (holes, _) = render("holes.png", &[]);
    let is_hole: Vec<bool> = holes.chunks_exact(4).map(|p| p[0] > 128).collect();
    let n_holes = is_hole.iter().filter(|&&h| h).count();
    assert!(n_holes > 200, "{n_holes} holes");
    let changed = |img: &[u8]| -> Vec<usize> {
        (0..is_hole.len())
            .filter(|&i| img[i * 4..i * 4 + 3] != background[i * 4..i * 4 + 3])
            .collect()
    };
    let (two, log) = render(
        "two.png",
        &["--inpaint-model", s(&model("tiny-inpaint.onnx"))],
    );
    assert!(log.contains("holes marked 1"), "{log}");
    let diff = changed(&two);
    assert!(
        diff.len() > n_holes / 2,
        "{} of {n_holes} holes changed",
        diff.len()
    );
    for &i in &diff {
        assert!(is_hole[i], "pixel {i} is not a hole but changed");
    }
    // One [N,4,H,W] input, values -1..1, mask 0 at holes: the same blur, so the same fill.
    let (four, log) = render(
        "four.png",
        &[
            "--inpaint-model",
            s(&model("tiny-inpaint-4ch.onnx")),
            "--inpaint-range",
            "minus-one-one",
            "--inpaint-mask",
            "hole-zero",
        ],
    );
    assert!(log.contains("values -1..1, holes marked 0"), "{log}");
    // (Where a blur window holds no known pixel the models give their range's 0: black
    // in 0..1, mid grey in -1..1; those are left out.)
    let worst = two
        .chunks_exact(4)
        .zip(four.chunks_exact(4))
        .filter(|(a, _)| a[..3] != [0, 0, 0])
        .flat_map(|(a, b)| (0..3).map(move |c| a[c].abs_diff(b[c])))
        .max()
        .unwrap();
    assert!(worst <= 1, "the 4-channel model's fill differs by {worst}");
    // A fixed 512x512 model: the frame is padded to its size, and still only holes change.
    let (fixed, log) = render(
        "fixed.png",
        &["--inpaint-model", s(&model("tiny-inpaint-512.onnx"))],
    );
    assert!(log.contains("[1, 3, 512, 512]"), "{log}");
    assert!(log.contains("; 1 tile(s) in 1 model call(s)"), "{log}");
    for i in changed(&fixed) {
        assert!(is_hole[i], "pixel {i} is not a hole but changed");
    }
    // No disparity, no holes: no inference at all.
    let (_, log) = render(
        "flat.png",
        &["--inpaint-model", s(&model("tiny-inpaint.onnx"))],
    );
    assert!(
        log.contains(
            "0 of 1 eye frame(s) had holes (0.00 % of their pixels); 0 tile(s) in 0 model call(s)"
        ),
        "{log}"
    );

    // Careless lines.
    for (args, expect) in [
        (vec!["--fill", "model"], "--fill model needs the model"),
        (
            vec![
                "--inpaint-model",
                s(&model("tiny-inpaint.onnx")),
                "--fill",
                "scanline",
            ],
            "leave out --fill scanline",
        ),
        (
            vec![
                "--inpaint-model",
                s(&model("tiny-inpaint.onnx")),
                "--warp-device",
                "gpu",
            ],
            "runs after the CPU warp",
        ),
        (
            vec!["--inpaint-model", s(&model("tiny-depth.onnx"))],
            "is not an inpainting model",
        ),
        (
            vec!["--inpaint-temporal", "1.5"],
            "--inpaint-temporal is the share",
        ),
    ] {
        let x = dir.join("x.png");
        let mut a = vec!["render", s(&photo), "-o", s(&x)];
        a.extend(args);
        let (success, log) = stereosplat(&a);
        assert!(!success, "{a:?} should fail");
        assert!(log.contains(expect), "{expect:?} not in\n{log}");
        assert!(!log.contains("panicked"), "{log}");
    }
}

#[test]
fn a_still_scenes_fill_holds_steady_and_starts_afresh_at_a_cut() {
    // 16 frames of one scene with noise (as a camera or a codec adds), then 8 of another.
    let size = (200u32, 112u32);
    let dir = common::work_dir("inpaint_temporal");
    let frames: Vec<Vec<u8>> = (0..24u32)
        .map(|t| {
            let mut f = texture(size, if t < 16 { 7 } else { 8 });
            for (i, v) in f.iter_mut().enumerate() {
                if i % 4 != 3 {
                    let n = speckle(i as u32, t, 99)[0] % 13;
                    *v = v.saturating_add(n).saturating_sub(6);
                }
            }
            f
        })
        .collect();
    let clip = dir.join("clip.mkv");
    common::write_rgba(&clip, size, frames, 24);
    let bytes = band_depth(size)
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    common::write_png(&dir.join("clip_depth.png"), size, "GRAY16_BE", bytes);
    let tiny = model("tiny-inpaint.onnx");
    // Each output frame's luma: lossless, and a pixel's own (4:2:0 chroma is shared).
    let render = |name: &str, extra: &[&str]| -> Vec<Vec<u8>> {
        let out = dir.join(name);
        let mut a = vec![
            "render",
            s(&clip),
            "-o",
            s(&out),
            "--layout",
            "right",
            "--max-disp",
            "14",
            "--crf",
            "0",
            "--inpaint-model",
            s(&tiny),
        ];
        a.extend_from_slice(extra);
        ok(&a);
        let mut dec = stereosplat::media::decode::Decoder::open(
            &out,
            stereosplat::media::decode::PixelFormat::Native,
            &Default::default(),
        )
        .unwrap();
        let mut v = Vec::new();
        while let Some(f) = dec.next_frame().unwrap() {
            let stereosplat::frame::FramePixels::I420 { planes, .. } = f.pixels() else {
                panic!("I420 expected");
            };
            let (y, stride) = planes[0];
            v.push(
                (0..size.1 as usize)
                    .flat_map(|r| y[r * stride as usize..][..size.0 as usize].to_vec())
                    .collect(),
            );
        }
        v
    };
    let steady = render("steady.mkv", &[]);
    let fresh = render("fresh.mkv", &["--inpaint-temporal", "0"]);
    // The hole pixels, as the `holes` layout shows them.
    let mask = {
        let out = dir.join("holes.png");
        ok(&[
            "render",
            s(&clip),
            "-o",
            s(&out),
            "--layout",
            "holes",
            "--max-disp",
            "14",
            "--frames",
            "1",
        ]);
        common::read_rgba(&out).0
    };
    let holes: Vec<usize> = (0..(size.0 * size.1) as usize)
        .filter(|&i| mask[i * 4] > 128)
        .collect();
    assert!(holes.len() > 100, "{} hole pixels", holes.len());
    let change = |v: &[Vec<u8>], t: usize| -> f64 {
        let sum: u64 = holes
            .iter()
            .map(|&i| u64::from(v[t][i].abs_diff(v[t - 1][i])))
            .sum();
        sum as f64 / holes.len() as f64
    };
    let (mut with, mut without) = (0.0, 0.0);
    for t in 1..16 {
        with += change(&steady, t) / 15.0;
        without += change(&fresh, t) / 15.0;
    }
    // The fill of noisy context wobbles (most on the holes' rims, which blend in the noisy
    // background fill); kept fills move less than half as much, under a tenth of a level a frame.
    assert!(
        without > 0.1,
        "the fresh fill moves with the noise ({without:.3})"
    );
    assert!(
        with < 0.5 * without,
        "kept {with:.3} against fresh {without:.3} levels a frame"
    );
    assert!(with < 0.1, "{with:.3} levels a frame");
    // At the cut the context changes: the fill is the fresh one, not blended.
    let worst = holes
        .iter()
        .map(|&i| steady[16][i].abs_diff(fresh[16][i]))
        .max()
        .unwrap();
    assert!(
        worst <= 2,
        "the first frame after the cut differs from a fresh fill by {worst}"
    );
}
