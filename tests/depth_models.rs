//! Model formats people download, through the real ONNX Runtime with the tiny models in
//! models/ (`make_tiny_depth.py`): a video depth model run in sliding windows (checked
//! against a CPU reference of Video Depth Anything's own windowing on a clip whose length
//! is no multiple of the window), float16 inputs and outputs, several outputs, outputs
//! smaller than the input, and test-time augmentation (`--tta`).

mod common;

use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> String {
    let o = Command::new(common::bin())
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "stereosplat {args:?}\n{err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn model(name: &str) -> String {
    format!("{}/models/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A frame whose colours move with `i`, so every window of a clip differs.
fn frame((w, h): (u32, u32), i: u32) -> Vec<u8> {
    let mut rgba = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let r = (x * 9 + i * 7) % 256;
            let g = (y * 13 + i * i) % 256;
            let b = (x * y + 5 * i) % 256;
            rgba.extend([r as u8, g as u8, b as u8, 255]);
        }
    }
    rgba
}

/// The model's input for an RGBA frame at its own size: ImageNet-normalised planar RGB.
fn tensor(rgba: &[u8]) -> Vec<f64> {
    let mean = [0.485, 0.456, 0.406];
    let std = [0.229, 0.224, 0.225];
    let n = rgba.len() / 4;
    let mut t = vec![0.0; 3 * n];
    for c in 0..3 {
        for i in 0..n {
            t[c * n + i] = (f64::from(rgba[4 * i + c]) / 255.0 - mean[c]) / std[c];
        }
    }
    t
}

/// tiny-video-depth.onnx on one window of planar tensors: g (1 + m) + m + 0.3 k.
fn video_model(window: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = window[0].len() / 3;
    let g: Vec<Vec<f64>> = window
        .iter()
        .map(|t| {
            (0..n)
                .map(|i| (t[i] + t[n + i] + t[2 * n + i]) / 3.0)
                .collect()
        })
        .collect();
    let m = window.iter().flatten().sum::<f64>() / (window.len() * 3 * n) as f64;
    let k: Vec<f64> = (0..n)
        .map(|i| g[..10].iter().map(|gi| gi[i]).sum::<f64>() / 10.0)
        .collect();
    g.iter()
        .map(|gi| (0..n).map(|i| gi[i] * (1.0 + m) + m + 0.3 * k[i]).collect())
        .collect()
}

/// Video Depth Anything's windowing over a whole clip, written from its description:
/// pad to L + (22 - L % 22) % 22 + 10 with the last frame; windows of 32 every 22 frames,
/// whose first 10 slots hold the previous window's slots 0, 12, 24..31; each window fit
/// by least squares (scale, shift) on its slots 0 and 1 against their aligned depth,
/// the last 8 aligned frames blended into its slots 2..9, and its slots 10..31 appended.
fn vda_reference(frames: &[Vec<f64>]) -> Vec<Vec<f64>> {
    const T: usize = 32;
    const OVERLAP: usize = 10;
    const STEP: usize = T - OVERLAP;
    const KEYFRAMES: [usize; 10] = [0, 12, 24, 25, 26, 27, 28, 29, 30, 31];
    const INTERP: usize = 8;
    let len = frames.len();
    let mut list: Vec<Vec<f64>> = frames.to_vec();
    let padded = len + (STEP - len % STEP) % STEP + OVERLAP;
    while list.len() < padded {
        list.push(frames[len - 1].clone());
    }
    let mut outputs: Vec<Vec<Vec<f64>>> = Vec::new();
    let mut previous: Option<Vec<Vec<f64>>> = None;
    let mut start = 0;
    while start + T <= list.len() {
        let mut window: Vec<Vec<f64>> = list[start..start + T].to_vec();
        if let Some(prev) = &previous {
            for (slot, &k) in KEYFRAMES.iter().enumerate() {
                window[slot] = prev[k].clone();
            }
        }
        outputs.push(video_model(&window));
        previous = Some(window);
        start += STEP;
    }
    let mut aligned: Vec<Vec<f64>> = Vec::new();
    let mut reference: Vec<Vec<f64>> = Vec::new();
    for out in &outputs {
        if aligned.is_empty() {
            aligned.extend(out.iter().cloned());
            reference = vec![out[0].clone(), out[12].clone()];
            continue;
        }
        // Least squares over slots 0 and 1 against the reference.
        let (mut a00, mut a01, mut a11, mut b0, mut b1) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (p, t) in out[..2].iter().zip(&reference) {
            for (p, t) in p.iter().zip(t) {
                a00 += p * p;
                a01 += p;
                a11 += 1.0;
                b0 += p * t;
                b1 += t;
            }
        }
        let det = a00 * a11 - a01 * a01;
        let scale = (a11 * b0 - a01 * b1) / det;
        let shift = (-a01 * b0 + a00 * b1) / det;
        let place =
            |m: &Vec<f64>| -> Vec<f64> { m.iter().map(|v| (v * scale + shift).max(0.0)).collect() };
        let n = aligned.len();
        for i in 0..INTERP {
            let w = (i + 1) as f64 / (INTERP + 1) as f64;
            let post = place(&out[2 + i]);
            let pre = &aligned[n - INTERP + i];
            aligned[n - INTERP + i] = pre
                .iter()
                .zip(&post)
                .map(|(a, b)| a * (1.0 - w) + b * w)
                .collect();
        }
        for m in &out[OVERLAP..] {
            aligned.push(place(m));
        }
        reference.truncate(1);
        reference.push(place(&out[12]));
    }
    aligned.truncate(len);
    aligned
}

#[test]
fn a_video_model_runs_in_aligned_sliding_windows() {
    let dir = common::work_dir("models_video");
    // 70 frames: three windows and a padded fourth; no multiple of 22 or 32. The frame
    // is the model's own input size (short side 28, multiples of 14): no resampling.
    let size = (56u32, 28u32);
    let frames: Vec<Vec<u8>> = (0..70).map(|i| frame(size, i)).collect();
    let clip = dir.join("clip.mkv");
    common::write_rgba(&clip, size, frames.clone(), 24);
    let out = dir.join("depth.mkv");
    let log = run(&[
        "depth",
        s(&clip),
        "-o",
        s(&out),
        "--depth-model",
        &model("tiny-video-depth.onnx"),
        "--depth-size",
        "28",
        "--no-cache",
    ]);
    assert!(
        log.contains("windows of 32 frames, 10 overlapping"),
        "{log}"
    );
    // A video model's default normalisation is one range for the clip.
    assert!(log.contains("clip normalisation"), "{log}");
    let (got, got_size) = common::read_gray16(&out);
    assert_eq!(got_size, size);
    assert_eq!(got.len(), 70);

    let want = vda_reference(&frames.iter().map(|f| tensor(f)).collect::<Vec<_>>());
    let lo = want.iter().flatten().copied().fold(f64::INFINITY, f64::min);
    let hi = want
        .iter()
        .flatten()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let mut worst = 0.0f64;
    for (g, w) in got.iter().zip(&want) {
        for (&g, &w) in g.iter().zip(w) {
            let w = (w - lo) / (hi - lo) * 65535.0;
            worst = worst.max((f64::from(g) - w).abs());
        }
    }
    // 16-bit storage twice (raw maps, then the normalised file) and float32 inference.
    assert!(
        worst <= 6.0,
        "largest difference from the reference: {worst} levels"
    );

    // The windows matter: the same frames with each window taken alone (no alignment,
    // no key frames) differ from the reference by far more than the tolerance.
    let naive: Vec<Vec<f64>> = frames
        .chunks(32)
        .flat_map(|c| {
            let mut w: Vec<Vec<f64>> = c.iter().map(|f| tensor(f)).collect();
            while w.len() < 32 {
                w.push(w[w.len() - 1].clone());
            }
            video_model(&w).into_iter().take(c.len())
        })
        .collect();
    let off: f64 = naive
        .iter()
        .zip(&want)
        .flat_map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(a, b)| ((a - b) / (hi - lo) * 65535.0).abs())
        })
        .fold(0.0, f64::max);
    assert!(off > 100.0, "the check cannot tell windows apart ({off})");
}

/// The exported 16-bit depth of one image through `model`, with extra flags.
fn depth_of(
    dir: &Path,
    name: &str,
    rgba: &[u8],
    size: (u32, u32),
    extra: &[&str],
) -> (Vec<u16>, (u32, u32)) {
    let img = dir.join(format!("{name}.png"));
    common::write_rgba(&img, size, vec![rgba.to_vec()], 0);
    let out = dir.join(format!("{name}_depth.png"));
    let mut args = vec![
        "depth",
        s(&img),
        "-o",
        s(&out),
        "--depth-size",
        "28",
        "--normalize",
        "frame",
        "--no-cache",
    ];
    args.extend(extra);
    run(&args);
    let (frames, size) = common::read_gray16(&out);
    (frames.into_iter().next().unwrap(), size)
}

/// A map normalised to 0..65535 over its own range, as `--normalize frame` stores it.
fn normalised(map: &[f64]) -> Vec<f64> {
    let lo = map.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = map.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    map.iter().map(|v| (v - lo) / (hi - lo) * 65535.0).collect()
}

fn worst(a: &[u16], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&a, &b)| (f64::from(a) - b).abs())
        .fold(0.0, f64::max)
}

/// tiny-depth-asym.onnx: the channel mean, then [0.6 0.3 0.1] along x with edge padding.
fn asym(t: &[f64], (w, h): (usize, usize)) -> Vec<f64> {
    let n = w * h;
    let g: Vec<f64> = (0..n)
        .map(|i| (t[i] + t[n + i] + t[2 * n + i]) / 3.0)
        .collect();
    let at = |x: isize, y: usize| g[y * w + x.clamp(0, w as isize - 1) as usize];
    (0..n)
        .map(|i| {
            let (x, y) = ((i % w) as isize, i / w);
            0.6 * at(x - 1, y) + 0.3 * at(x, y) + 0.1 * at(x + 1, y)
        })
        .collect()
}

fn mirrored(rgba: &[u8], (w, _): (u32, u32)) -> Vec<u8> {
    rgba.chunks(w as usize * 4)
        .flat_map(|row| row.chunks(4).rev().flatten().copied().collect::<Vec<_>>())
        .collect()
}

#[test]
fn tta_is_the_mean_of_the_plain_and_the_mirrored_estimate() {
    let dir = common::work_dir("models_tta");
    let size = (56u32, 28u32);
    let rgba = frame(size, 3);
    let (w, h) = (size.0 as usize, size.1 as usize);
    let plain = asym(&tensor(&rgba), (w, h));
    let flipped = asym(&tensor(&mirrored(&rgba, size)), (w, h));
    // Mirrored back, then averaged.
    let tta: Vec<f64> = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            (plain[i] + flipped[y * w + (w - 1 - x)]) / 2.0
        })
        .collect();
    let m = model("tiny-depth-asym.onnx");
    let (got, _) = depth_of(&dir, "tta", &rgba, size, &["--depth-model", &m, "--tta"]);
    assert!(worst(&got, &normalised(&tta)) <= 2.0);
    // Without --tta the model's own, lopsided, estimate: a real difference.
    let (got, _) = depth_of(&dir, "plain", &rgba, size, &["--depth-model", &m]);
    assert!(worst(&got, &normalised(&plain)) <= 2.0);
    assert!(
        worst(&got, &normalised(&tta)) > 500.0,
        "the filter is not lopsided enough"
    );
}

/// tiny-depth.onnx's map: the channel mean, blurred 3x3 with edge padding.
fn box_mean(t: &[f64], (w, h): (usize, usize)) -> Vec<f64> {
    let n = w * h;
    let g: Vec<f64> = (0..n)
        .map(|i| (t[i] + t[n + i] + t[2 * n + i]) / 3.0)
        .collect();
    (0..n)
        .map(|i| {
            let (x, y) = ((i % w) as isize, (i / w) as isize);
            let mut s = 0.0;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let xx = (x + dx).clamp(0, w as isize - 1) as usize;
                    let yy = (y + dy).clamp(0, h as isize - 1) as usize;
                    s += g[yy * w + xx];
                }
            }
            s / 9.0
        })
        .collect()
}

#[test]
fn float16_and_several_outputs_and_smaller_maps_load_as_they_are() {
    let dir = common::work_dir("models_formats");
    let size = (56u32, 28u32);
    let rgba = frame(size, 5);
    let (w, h) = (size.0 as usize, size.1 as usize);
    let want = normalised(&box_mean(&tensor(&rgba), (w, h)));

    // Float16 in and out: the tiny model's map to float16 precision.
    let (got, got_size) = depth_of(
        &dir,
        "fp16",
        &rgba,
        size,
        &["--depth-model", &model("tiny-depth-fp16.onnx")],
    );
    assert_eq!(got_size, size);
    assert!(worst(&got, &want) <= 150.0, "fp16: {}", worst(&got, &want));

    // Three outputs: the depth one is found by its name and shape...
    let multi = model("tiny-depth-multi.onnx");
    let (got, _) = depth_of(&dir, "multi", &rgba, size, &["--depth-model", &multi]);
    assert!(worst(&got, &want) <= 2.0);
    // ... and --depth-output reads another: `aux`, the negated channel mean (far = near).
    let (got, _) = depth_of(
        &dir,
        "aux",
        &rgba,
        size,
        &["--depth-model", &multi, "--depth-output", "aux"],
    );
    let t = tensor(&rgba);
    let n = w * h;
    let aux: Vec<f64> = (0..n)
        .map(|i| -(t[i] + t[n + i] + t[2 * n + i]) / 3.0)
        .collect();
    assert!(worst(&got, &normalised(&aux)) <= 2.0);
    // A name that is not an output is refused with the outputs listed.
    let img = dir.join("aux.png");
    let o = Command::new(common::bin())
        .args([
            "depth",
            s(&img),
            "-o",
            s(&dir.join("x.png")),
            "--depth-model",
            &multi,
        ])
        .args(["--depth-output", "nope", "--no-cache"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no output `nope`") && err.contains("logits, aux, depth"),
        "{err}"
    );

    // A map half the input's size is kept at its size (the render enlarges it with its
    // edge-aware upsampling), and renders.
    let half = model("tiny-depth-half.onnx");
    let (got, got_size) = depth_of(&dir, "half", &rgba, size, &["--depth-model", &half]);
    assert_eq!(got_size, (28, 14));
    let pooled: Vec<f64> = (0..14 * 28)
        .map(|i| {
            let (x, y) = (i % 28, i / 28);
            let g = |xx: usize, yy: usize| {
                let j = yy * w + xx;
                (t[j] + t[n + j] + t[2 * n + j]) / 3.0
            };
            (g(2 * x, 2 * y) + g(2 * x + 1, 2 * y) + g(2 * x, 2 * y + 1) + g(2 * x + 1, 2 * y + 1))
                / 4.0
        })
        .collect();
    assert!(worst(&got, &normalised(&pooled)) <= 2.0);
    let img = dir.join("half.png");
    let out = dir.join("half_sbs.png");
    run(&[
        "render",
        s(&img),
        "-o",
        s(&out),
        "--depth-model",
        &half,
        "--depth-size",
        "28",
        "--no-cache",
    ]);
    let (_, ow, oh) = common::read_rgba(&out);
    assert_eq!((ow, oh), (2 * size.0, size.1));
}
