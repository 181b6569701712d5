//! Comfort and shaping through the command line (issue #21): strength as a share of the
//! width (`--divergence`), depth curves and the foreground scale against their formulas,
//! and the frame's edges (`--preserve-border`). Scenes are textured photos with depth
//! images whose rows hold known values, so each row's shift can be measured exactly.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use stereosplat::stereo::{DepthCurve, Shape};

struct Run {
    code: Option<i32>,
    stderr: String,
}

fn stereosplat(args: &[&str]) -> Run {
    let o = Command::new(common::bin())
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    Run {
        code: o.status.code(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A still and its 16-bit depth image, each row's depth from `row_depth(y)`.
struct Still {
    dir: PathBuf,
    photo: PathBuf,
    depth: PathBuf,
    pixels: Vec<u8>,
    size: (u32, u32),
}

fn still(name: &str, size: (u32, u32), pixels: Vec<u8>, row_depth: impl Fn(u32) -> u16) -> Still {
    let dir = common::work_dir(name);
    let photo = dir.join("photo.png");
    common::write_png(&photo, size, "RGBA", pixels.clone());
    let depth = dir.join("photo_depth.png");
    let bytes = (0..size.1)
        .flat_map(|y| std::iter::repeat_n(row_depth(y).to_be_bytes(), size.0 as usize))
        .flatten()
        .collect();
    common::write_png(&depth, size, "GRAY16_BE", bytes);
    Still {
        dir,
        photo,
        depth,
        pixels,
        size,
    }
}

/// The right eye alone, rendered with `args`.
fn right_eye(st: &Still, name: &str, args: &[&str]) -> Vec<u8> {
    let out = st.dir.join(format!("{name}.png"));
    let mut a = vec![
        "render",
        s(&st.photo),
        "--depth",
        s(&st.depth),
        "--layout",
        "right",
        "-o",
        s(&out),
    ];
    a.extend_from_slice(args);
    let r = stereosplat(&a);
    assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
    let (rgba, w, h) = common::read_rgba(&out);
    assert_eq!((w, h), st.size);
    rgba
}

/// Mean colour difference of row `y` of the right eye against the source row shifted by
/// `d` pixels (x_right = x_left - d, sampled linearly), over the columns that have a
/// source and stay `margin` away from both edges.
fn row_error(st: &Still, out: &[u8], y: u32, d: f32, margin: usize) -> f32 {
    let w = st.size.0 as usize;
    let row = |buf: &[u8], x: usize, c: usize| f32::from(buf[(y as usize * w + x) * 4 + c]);
    let mut sum = 0.0;
    let mut n = 0;
    for x in margin..w - margin {
        let src = x as f32 + d;
        let x0 = src.floor() as usize;
        if x0 + 1 >= w - margin {
            break;
        }
        let f = src - x0 as f32;
        for c in 0..3 {
            let want = row(&st.pixels, x0, c) * (1.0 - f) + row(&st.pixels, x0 + 1, c) * f;
            sum += (row(out, x, c) - want).abs();
            n += 1;
        }
    }
    sum / n as f32
}

/// The shift of row `y` that explains the right eye best, to 0.02 px.
fn measured_shift(st: &Still, out: &[u8], y: u32, max: f32) -> f32 {
    let mut best = (f32::MAX, 0.0);
    let mut d = 0.0;
    while d <= max {
        let e = row_error(st, out, y, d, 4);
        if e < best.0 {
            best = (e, d);
        }
        d += 0.02;
    }
    best.1
}

/// Rows in three bands: far (0), `mid` (16-bit) and near (full scale).
fn three_bands(h: u32, mid: u16) -> impl Fn(u32) -> u16 {
    move |y| match y * 3 / h {
        0 => 0,
        1 => mid,
        _ => u16::MAX,
    }
}

#[test]
fn divergence_gives_the_same_picture_at_two_resolutions_scaled() {
    // The same photo at 320x180 and, each pixel doubled, at 640x360. With far at the
    // screen plane (--convergence 0) and 5 % divergence, near rows shift by 5 % of the
    // width: 16 px and 32 px. The larger render, averaged down 2x2, is the smaller one.
    let small_px = common::texture_rgba((320, 180), 11);
    let doubled: Vec<u8> = (0..360usize)
        .flat_map(|y| (0..640usize).map(move |x| (y / 2, x / 2)))
        .flat_map(|(y, x)| small_px[(y * 320 + x) * 4..][..4].to_vec())
        .collect();
    let halves = |h: u32| move |y: u32| if y < h / 2 { 0 } else { u16::MAX };
    let small = still(
        "comfort_div_small",
        (320, 180),
        small_px.clone(),
        halves(180),
    );
    let large = still("comfort_div_large", (640, 360), doubled, halves(360));
    let args = ["--divergence", "5", "--convergence", "0"];
    let a = right_eye(&small, "div", &args);
    let b = right_eye(&large, "div", &args);
    // Exact shifts: 16 px in the near half, none in the far half.
    assert!(
        row_error(&small, &a, 150, 16.0, 0) < 0.01,
        "16 px at 320 wide"
    );
    assert!(row_error(&small, &a, 30, 0.0, 0) < 0.01);
    assert!(
        row_error(&large, &b, 300, 32.0, 0) < 0.01,
        "32 px at 640 wide"
    );
    assert!(
        row_error(&small, &a, 150, 15.0, 0) > 5.0,
        "the check tells 15 from 16"
    );
    let mut worst = 0u8;
    for y in (0..180usize).filter(|y| !(85..95).contains(y)) {
        // The last 16 columns of near rows are disoccluded (filled): left out.
        for x in 0..320 - 16 {
            for c in 0..3 {
                let at = |xx: usize, yy: usize| u32::from(b[(yy * 640 + xx) * 4 + c]);
                let mean = (at(2 * x, 2 * y)
                    + at(2 * x + 1, 2 * y)
                    + at(2 * x, 2 * y + 1)
                    + at(2 * x + 1, 2 * y + 1)
                    + 2)
                    / 4;
                worst = worst.max((mean as u8).abs_diff(a[(y * 320 + x) * 4 + c]));
            }
        }
    }
    assert!(worst <= 1, "the two resolutions differ by {worst} levels");

    // The log states both units; giving both is an error.
    let r = stereosplat(&[
        "render",
        s(&small.photo),
        "--depth",
        s(&small.depth),
        "-o",
        s(&small.dir.join("log.png")),
        "--divergence",
        "2.5",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--divergence 2.50 % = max disparity 4.0 px at 320 px wide"),
        "{}",
        r.stderr
    );
    let r = stereosplat(&[
        "render",
        s(&small.photo),
        "-o",
        s(&small.dir.join("both.png")),
        "--divergence",
        "2",
        "--max-disp",
        "10",
    ]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("--max-disp"), "{}", r.stderr);
    assert!(!small.dir.join("both.png").exists());
}

#[test]
fn depth_curves_and_the_foreground_scale_shift_by_their_formulas() {
    // Middle rows hold nearness 0.4 (far rows 0, near rows 1, so the clip's range is
    // 0..1 exactly). With the far plane at the screen, a row's shift is 2 max f(v).
    let mid = (0.4f32 * 65535.0).round() as u16;
    let v = f32::from(mid) / 65535.0;
    let st = still(
        "comfort_curves",
        (240, 90),
        common::texture_rgba((240, 90), 5),
        three_bands(90, mid),
    );
    let cases: &[(&[&str], Shape)] = &[
        (&[], Shape::default()),
        (
            &["--depth-curve", "gamma:2"],
            Shape {
                curve: DepthCurve::Gamma(2.0),
                ..Shape::default()
            },
        ),
        (
            &["--depth-curve", "inverse:4"],
            Shape {
                curve: DepthCurve::Inverse(4.0),
                ..Shape::default()
            },
        ),
        (
            &["--depth-curve", "sigmoid:8"],
            Shape {
                curve: DepthCurve::Sigmoid(8.0),
                ..Shape::default()
            },
        ),
        (
            &["--depth-curve", "softplus"],
            Shape {
                curve: DepthCurve::Softplus(4.0),
                ..Shape::default()
            },
        ),
        (
            &["--depth-curve", "sigmoid:8", "--foreground-scale", "2"],
            Shape {
                curve: DepthCurve::Sigmoid(8.0),
                foreground_scale: 2.0,
            },
        ),
    ];
    let max = 15.0;
    for (i, (flags, shape)) in cases.iter().enumerate() {
        let mut args = vec!["--max-disp", "15", "--convergence", "0"];
        args.extend_from_slice(flags);
        let out = right_eye(&st, &format!("curve{i}"), &args);
        // The formulas, written out here rather than taken from the library.
        let by_hand = match shape.curve {
            DepthCurve::Linear => v,
            DepthCurve::Gamma(g) => v.powf(g),
            DepthCurve::Inverse(k) => v * (1.0 + k) / (1.0 + v * k),
            DepthCurve::Sigmoid(k) => {
                let sig = |x: f32| 1.0 / (1.0 + (-x).exp());
                (sig(k * (v - 0.5)) - sig(-k / 2.0)) / (sig(k / 2.0) - sig(-k / 2.0))
            }
            DepthCurve::Softplus(k) => {
                let sp = |x: f32| (1.0 + x.exp()).ln();
                (sp(k * (v - 1.0)) - sp(-k)) / (2f32.ln() - sp(-k))
            }
        };
        let fg = |y: f32| {
            let t = (y - 0.5).max(0.0);
            y + (shape.foreground_scale - 1.0) * t * t
        };
        let want_mid = 2.0 * max * fg(by_hand);
        let want_near = 2.0 * max * fg(1.0);
        let got_mid = measured_shift(&st, &out, 45, 45.0);
        let got_near = measured_shift(&st, &out, 80, 45.0);
        assert!(
            (got_mid - want_mid).abs() <= 0.06,
            "{flags:?}: middle rows shift {got_mid}, the formula says {want_mid}"
        );
        assert!(
            (got_near - want_near).abs() <= 0.06,
            "{flags:?}: near rows shift {got_near}, the formula says {want_near}"
        );
        assert!(measured_shift(&st, &out, 10, 45.0) < 0.03, "far rows stay");
    }
    // Shaping is for relative depth only, and bad parameters are refused.
    for (args, wanted) in [
        (
            vec!["--depth-kind", "disparity", "--depth-curve", "gamma:2"],
            "--depth-curve applies to --depth-kind relative only",
        ),
        (
            vec!["--depth-curve", "gamma:9"],
            "must be between 0.2 and 5",
        ),
        (vec!["--depth-curve", "cubic"], "unknown depth curve"),
        (
            vec!["--foreground-scale", "0"],
            "--foreground-scale must be above 0",
        ),
    ] {
        let out = st.dir.join("refused.png");
        let mut a = vec!["render", s(&st.photo), "-o", s(&out)];
        a.extend(args.iter().copied());
        let r = stereosplat(&a);
        assert_ne!(r.code, Some(0), "{args:?}");
        assert!(r.stderr.contains(wanted), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert!(!out.exists());
    }
}

#[test]
fn preserve_border_gives_zero_parallax_at_the_edge_columns() {
    // Everything near: without the border every column moves 12 px; with a 10 % border
    // (24 px) the outermost columns do not move at all, and the shift rises smoothly
    // to the full 12 px at 24 px from each edge.
    let st = still(
        "comfort_border",
        (240, 60),
        common::texture_rgba((240, 60), 9),
        |y| if y < 2 { 0 } else { u16::MAX },
    );
    let base = ["--max-disp", "6", "--convergence", "0"];
    let plain = right_eye(&st, "plain", &base);
    let bordered = right_eye(
        &st,
        "border",
        &[&base[..], &["--preserve-border=10"]].concat(),
    );
    let w = st.size.0 as usize;
    let px = |img: &[u8], x: usize, y: usize| -> [u8; 3] {
        img[(y * w + x) * 4..][..3].try_into().unwrap()
    };
    for y in 10..60 {
        assert_eq!(
            px(&bordered, 0, y),
            px(&st.pixels, 0, y),
            "row {y}: left edge moved"
        );
        assert_eq!(
            px(&bordered, w - 1, y),
            px(&st.pixels, w - 1, y),
            "row {y}: right edge moved"
        );
        assert_ne!(
            px(&plain, 0, y),
            px(&st.pixels, 0, y),
            "without it, it moves"
        );
    }
    // Full shift in the middle, none at the edge.
    assert!(row_error(&st, &bordered, 30, 12.0, 60) < 0.5);
    assert!(row_error(&st, &plain, 30, 12.0, 0) < 0.01);
    // `--preserve-border` alone takes 5 %; a band wider than half the frame is refused.
    let r = stereosplat(&[
        "render",
        s(&st.photo),
        "--depth",
        s(&st.depth),
        "-o",
        s(&st.dir.join("wide.png")),
        "--preserve-border=60",
    ]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("--preserve-border"), "{}", r.stderr);
    let five = right_eye(&st, "five", &[&base[..], &["--preserve-border"]].concat());
    assert_eq!(px(&five, 0, 30), px(&st.pixels, 0, 30));
    assert_ne!(five, bordered, "5 % is not 10 %");
}

/// The comfort report's figures for a frame whose depth spans nearness `lo..hi`, worked
/// out by hand from the geometry: disparity d = 2 max (v - c); screen parallax
/// p = -d S / W; angle 2 atan(e / 2V) - 2 atan((e - p) / 2V).
struct ByHand {
    max: f64,
    c: f64,
    width: f64,
    screen: f64,
    distance: f64,
}

impl ByHand {
    fn d(&self, v: f64) -> f64 {
        2.0 * self.max * (v - self.c)
    }
    fn deg(&self, d: f64) -> f64 {
        let e = 0.063;
        let p = -d * self.screen / self.width;
        (2.0 * (e / (2.0 * self.distance)).atan() - 2.0 * ((e - p) / (2.0 * self.distance)).atan())
            .to_degrees()
    }
}

#[test]
fn the_comfort_report_matches_a_hand_computation() {
    // Three frames of a 240x90 clip. Depth rows hold two values per frame; over the
    // clip they span the whole 16-bit range, so nearness is value / 65535.
    let dir = common::work_dir("comfort_report");
    let size = (240u32, 90u32);
    let clip = dir.join("clip.mkv");
    let frames: Vec<Vec<u8>> = (0..3).map(|i| common::texture_rgba(size, 20 + i)).collect();
    common::write_rgba(&clip, size, frames, 24);
    let pairs = [(0u16, 65535u16), (16384, 49151), (0, 32768)];
    let depth = dir.join("clip_depth.mkv");
    common::write_gray16_video(
        &depth,
        size,
        pairs
            .iter()
            .map(|&(far, near)| {
                (0..size.1)
                    .flat_map(|y| std::iter::repeat_n(if y < 45 { far } else { near }, 240))
                    .collect()
            })
            .collect(),
        24,
    );
    let report = dir.join("report.json");
    let out = dir.join("out.mkv");
    let r = stereosplat(&[
        "render",
        s(&clip),
        "-o",
        s(&out),
        "--max-disp",
        "15",
        "--convergence",
        "0.25",
        "--screen-width-m",
        "2",
        "--viewing-distance-m",
        "6",
        "--report",
        s(&report),
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let hand = ByHand {
        max: 15.0,
        c: 0.25,
        width: 240.0,
        screen: 2.0,
        distance: 6.0,
    };
    let close = |got: &serde_json::Value, want: f64, what: &str| {
        let got = got.as_f64().unwrap_or_else(|| panic!("{what}: {got}"));
        assert!((got - want).abs() < 1e-3, "{what}: {got}, by hand {want}");
    };
    let frames = doc["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 3);
    for (i, (f, &(far, near))) in frames.iter().zip(&pairs).enumerate() {
        let (vn, vf) = (f64::from(near) / 65535.0, f64::from(far) / 65535.0);
        assert_eq!(f["frame"], i);
        close(&f["convergence"], 0.25, "convergence");
        close(&f["near_px"], hand.d(vn), "near px");
        close(&f["far_px"], hand.d(vf), "far px");
        close(&f["near_pct"], hand.d(vn) / 240.0 * 100.0, "near %");
        close(&f["far_pct"], hand.d(vf) / 240.0 * 100.0, "far %");
        close(&f["near_deg"], hand.deg(hand.d(vn)), "near deg");
        close(&f["far_deg"], hand.deg(hand.d(vf)), "far deg");
        // The background sits 7.5 px = 62.5 mm behind at most: within the eyes' 63 mm.
        assert_eq!(f["behind_ok"], true);
        let front_ok = -hand.deg(hand.d(vn)) <= 1.0;
        assert_eq!(f["front_ok"], front_ok, "frame {i}");
    }
    // Frames 0 and 1 break the front limit (22.5 and 15 px: 187.5 and 125 mm in front,
    // 1.8 and 1.2 degrees from 6 m); frame 2 (7.5 px, 0.6 degrees) stays within it.
    assert!(-hand.deg(15.0) > 1.0 && -hand.deg(7.5) < 1.0);
    let sum = &doc["summary"];
    close(&sum["near_px"], 22.5, "summary near");
    close(&sum["far_px"], -7.5, "summary far");
    close(&sum["far_parallax_mm"], 62.5, "parallax mm");
    close(&sum["front_ok"], 1.0 / 3.0, "front share");
    close(&sum["behind_ok"], 1.0, "behind share");
    assert_eq!(doc["screen_width_m"], 2.0);
    // The log says it, and warns with the setting to change.
    assert!(r.stderr.contains("parallax used: +22.5 px"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("66.7 % of frames bring the nearest depth")
            && r.stderr
                .contains("Lower --max-disp (or --divergence), or raise --convergence"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("diverge."), "{}", r.stderr);

    // On a larger screen the background diverges: 7.5 px of 240 on 2.1 m is 65.6 mm.
    let r = stereosplat(&[
        "render",
        s(&clip),
        "-o",
        s(&dir.join("out2.mkv")),
        "--divergence",
        "12.5",
        "--convergence",
        "0.25",
        "--screen-width-m",
        "2.1",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains("up to 66 mm behind a 2.1 m screen")
            && r.stderr
                .contains("Lower --divergence, or lower --convergence"),
        "{}",
        r.stderr
    );
    // Bad screens are refused before anything is written.
    let r = stereosplat(&[
        "render",
        s(&clip),
        "-o",
        s(&dir.join("out3.mkv")),
        "--screen-width-m",
        "0",
    ]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("--screen-width-m"), "{}", r.stderr);
    assert!(!dir.join("out3.mkv").exists());
}

/// A clip and its 16-bit depth from per-frame functions: `colour(t, x, y)` and
/// `depth(t, x, y)` (nearness 0..1), FFV1 in MKV, 24 fps.
fn clip(
    name: &str,
    size: (u32, u32),
    frames: u32,
    colour: impl Fn(u32, u32, u32) -> [u8; 3],
    depth: impl Fn(u32, u32, u32) -> f32,
) -> (PathBuf, PathBuf, PathBuf) {
    let dir = common::work_dir(name);
    let video = dir.join("clip.mkv");
    let rgba = (0..frames)
        .map(|t| {
            (0..size.1)
                .flat_map(|y| (0..size.0).map(move |x| (x, y)))
                .flat_map(|(x, y)| {
                    let [r, g, b] = colour(t, x, y);
                    [r, g, b, 255]
                })
                .collect()
        })
        .collect();
    common::write_rgba(&video, size, rgba, 24);
    let depth_path = dir.join("clip_depth.mkv");
    let maps = (0..frames)
        .map(|t| {
            (0..size.1)
                .flat_map(|y| (0..size.0).map(move |x| (x, y)))
                .map(|(x, y)| (depth(t, x, y).clamp(0.0, 1.0) * 65535.0).round() as u16)
                .collect()
        })
        .collect();
    common::write_gray16_video(&depth_path, size, maps, 24);
    (dir, video, depth_path)
}

/// A hash-based texture: every column and row differs from its neighbours.
fn speckle(x: u32, y: u32, seed: u32) -> [u8; 3] {
    let h =
        (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663) ^ seed.wrapping_mul(83_492_791))
            .wrapping_mul(2_654_435_761);
    [(h >> 24) as u8, (h >> 16) as u8, (h >> 8) as u8]
}

/// Decoded frames of a video as RGBA.
fn frames_of(path: &Path) -> (Vec<Vec<u8>>, (u32, u32)) {
    use stereosplat::media::decode::{DecodeOptions, Decoder, PixelFormat};
    let mut dec = Decoder::open(path, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
    let mut out = Vec::new();
    let mut size = (0, 0);
    while let Some(f) = dec.next_frame().unwrap() {
        size = (f.width(), f.height());
        let stride = f.stride_bytes() as usize;
        out.push(
            (0..size.1 as usize)
                .flat_map(|y| f.data()[y * stride..][..size.0 as usize * 4].to_vec())
                .collect(),
        );
    }
    (out, size)
}

#[test]
fn auto_convergence_keeps_a_moving_subject_at_the_screen_plane() {
    // A subject (a 90x70 speckled card) walks right and comes nearer at a steady pace
    // (nearness 0.55 -> 0.75) in front of a wall that sways back and forth in depth.
    let (w, h, n) = (320u32, 180u32, 48u32);
    let subject_x = |t: u32| 60 + (110 * t) / (n - 1);
    let on_subject = move |t: u32, x: u32, y: u32| {
        (subject_x(t)..subject_x(t) + 90).contains(&x) && (55..125).contains(&y)
    };
    let subject_near = |t: u32| 0.55 + 0.2 * t as f32 / (n - 1) as f32;
    let wall = |t: u32, x: u32| 0.15 + 0.1 * (t as f32 * 0.4).sin() + 0.1 * x as f32 / 320.0;
    let (dir, video, depth) = clip(
        "comfort_auto",
        (w, h),
        n,
        move |t, x, y| {
            if on_subject(t, x, y) {
                speckle(x - subject_x(t), y, 1)
            } else {
                speckle(x, y, 2)
            }
        },
        move |t, x, y| {
            if on_subject(t, x, y) {
                subject_near(t)
            } else {
                wall(t, x)
            }
        },
    );
    let out = dir.join("out.mkv");
    let track = dir.join("convergence.txt");
    let r = stereosplat(&[
        "render",
        s(&video),
        "--depth",
        s(&depth),
        "-o",
        s(&out),
        "--convergence",
        "auto",
        "--convergence-out",
        s(&track),
        "--crf",
        "0",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    // The clip's range: the farthest wall and the nearest subject, as stored.
    let q = |v: f32| (v * 65535.0).round() / 65535.0;
    let all: Vec<f32> = (0..n)
        .flat_map(|t| [q(subject_near(t)), q(wall(t, 0)), q(wall(t, 319))])
        .collect();
    let (lo, hi) = all
        .iter()
        .fold((1.0f32, 0.0f32), |(a, b), &v| (a.min(v), b.max(v)));
    let text = std::fs::read_to_string(&track).unwrap();
    assert!(text.starts_with("# stereosplat convergence"), "{text}");
    let values: Vec<f32> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(values.len(), n as usize);
    for (t, c) in values.iter().enumerate() {
        // d = 2 max_disp (v - c), with v the subject's normalised nearness.
        let v = (q(subject_near(t as u32)) - lo) / (hi - lo);
        let d = 2.0 * 20.0 * (v - c);
        assert!(
            d.abs() < 0.5,
            "frame {t}: the subject sits {d} px off the screen plane"
        );
    }
    // In the picture: the subject's rows in the right eye match the left eye unshifted,
    // while the wall beside it moves.
    let (frames, size) = frames_of(&out);
    assert_eq!(size, (2 * w, h));
    for t in [0usize, 20, 47] {
        let f = &frames[t];
        let x0 = subject_x(t as u32) as usize + 10;
        let luma = |x: usize, y: usize| {
            let p = &f[(y * 2 * w as usize + x) * 4..];
            f32::from(p[0]) * 0.3 + f32::from(p[1]) * 0.6 + f32::from(p[2]) * 0.1
        };
        let error = |shift: i32, xs: std::ops::Range<usize>| {
            let mut e = 0.0;
            for y in 60..120 {
                for x in xs.clone() {
                    let r = luma(w as usize + (x as i32 - shift) as usize, y);
                    e += (r - luma(x, y)).abs();
                }
            }
            e
        };
        let best = |xs: std::ops::Range<usize>| {
            (-16..=16)
                .min_by(|&a, &b| error(a, xs.clone()).total_cmp(&error(b, xs.clone())))
                .unwrap()
        };
        assert_eq!(best(x0..x0 + 70), 0, "frame {t}: the subject moved");
    }
    // The wall (the upper rows) does shift, by different amounts as it sways.
    assert!(r.stderr.contains("shot(s)"), "{}", r.stderr);

    // The file feeds back in, and --convergence auto with a file is refused.
    let again = dir.join("again.mkv");
    let r = stereosplat(&[
        "render",
        s(&video),
        "--depth",
        s(&depth),
        "-o",
        s(&again),
        "--convergence-file",
        s(&track),
        "--report",
        s(&dir.join("again.json")),
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("again.json")).unwrap()).unwrap();
    for (t, f) in report["frames"].as_array().unwrap().iter().enumerate() {
        let c = f["convergence"].as_f64().unwrap() as f32;
        assert!(
            (c - values[t]).abs() < 1e-5,
            "frame {t}: {c} against {}",
            values[t]
        );
    }
    let r = stereosplat(&[
        "render",
        s(&video),
        "-o",
        s(&dir.join("both.mkv")),
        "--convergence",
        "auto",
        "--convergence-file",
        s(&track),
    ]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("not both"), "{}", r.stderr);
}

#[test]
fn the_floating_window_masks_the_edge_a_near_object_crosses_and_eases() {
    // A near card (nearness 1) slides left until it is cut by the left edge; the wall
    // behind (nearness 0.2) sits behind the screen. With the default strength (20 px
    // around nearness 0.5) the card stands 20 px in front: once it is cut by the left
    // edge, the left eye needs a 20 px band there. The right edge never needs one.
    let (w, h, n) = (320u32, 120u32, 60u32);
    // Until frame 25, then it stays there, cut by the edge.
    let card_x = |t: u32| (120 - 6 * t as i32).max(-30);
    let on_card = move |t: u32, x: u32, y: u32| {
        (card_x(t)..card_x(t) + 70).contains(&(x as i32)) && (30..90).contains(&y)
    };
    let (dir, video, depth) = clip(
        "comfort_float",
        (w, h),
        n,
        move |t, x, y| speckle(x, y, if on_card(t, x, y) { 5 } else { 6 }),
        move |t, x, y| if on_card(t, x, y) { 1.0 } else { 0.2 },
    );
    let render = |name: &str, extra: &[&str]| {
        let out = dir.join(name);
        let mut a = vec![
            "render",
            s(&video),
            "--depth",
            s(&depth),
            "-o",
            s(&out),
            "--crf",
            "0",
        ];
        a.extend_from_slice(extra);
        let r = stereosplat(&a);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        frames_of(&out).0
    };
    let plain = render("plain.mkv", &[]);
    let floating = render("floating.mkv", &["--floating-window"]);
    // The band's width per frame: the darkened share of each column, summed, over the
    // left eye's first 40 columns and the right eye's last 40.
    let band = |t: usize, left: bool| {
        let mut sum = 0.0;
        for k in 0..40usize {
            let x = if left { k } else { 2 * w as usize - 1 - k };
            let (mut a, mut b) = (0.0, 0.0);
            for y in 0..h as usize {
                let i = (y * 2 * w as usize + x) * 4;
                a += f32::from(floating[t][i + 1]);
                b += f32::from(plain[t][i + 1]);
            }
            sum += (1.0 - a / b.max(1.0)).clamp(0.0, 1.0);
        }
        sum
    };
    let left: Vec<f32> = (0..n as usize).map(|t| band(t, true)).collect();
    for t in 0..n as usize {
        assert!(band(t, false) < 0.3, "frame {t}: the right edge is masked");
    }
    // The card comes within 20 px of the edge at frame 17 and is cut from frame 20 on.
    for (t, &b) in left.iter().enumerate() {
        if t <= 3 {
            assert!(
                b < 0.3,
                "frame {t}: a band before anything nears the edge ({b})"
            );
        }
        if t >= 21 {
            assert!((b - 20.0).abs() < 1.0, "frame {t}: band {b}, want 20 px");
        }
    }
    // It eases in: never shrinking, no jumps of more than a few pixels a frame.
    for t in 1..n as usize {
        assert!(left[t] >= left[t - 1] - 0.3, "frame {t}: {left:?}");
        assert!(left[t] - left[t - 1] < 4.0, "frame {t}: {left:?}");
    }
    assert!(
        left[10] > 1.0 && left[10] < 19.0,
        "frame 10 is easing in: {left:?}"
    );
}

/// Every frame's luma plane (as coded: limited range, black at 16), packed, with the size.
fn luma_of(path: &Path) -> (Vec<Vec<u8>>, (u32, u32)) {
    use stereosplat::frame::FramePixels;
    use stereosplat::media::decode::{DecodeOptions, Decoder, PixelFormat};
    let mut dec = Decoder::open(path, PixelFormat::Native, &DecodeOptions::default()).unwrap();
    let mut out = Vec::new();
    let mut size = (0, 0);
    while let Some(f) = dec.next_frame().unwrap() {
        size = (f.width(), f.height());
        let FramePixels::I420 { planes, .. } = f.pixels() else {
            panic!("{}: expected I420 frames", path.display());
        };
        let (y, stride) = planes[0];
        out.push(
            (0..size.1 as usize)
                .flat_map(|r| y[r * stride as usize..][..size.0 as usize].to_vec())
                .collect(),
        );
    }
    (out, size)
}

#[test]
fn autocrop_keeps_the_bars_black_in_both_eyes_and_crop_gives_the_picture() {
    // A 240x120 textured picture windowboxed in 320x180 (bars of 40 px left and right,
    // 30 px top and bottom), coded as H.264 so the bars carry compression noise. The depth
    // covers the whole frame and knows nothing of the bars: the left part is near, so the
    // picture would be pushed into the left bar, and the warp's fill smears it there.
    let (w, h, n) = (320u32, 180u32, 24u32);
    let inside = |x: u32, y: u32| (40..280).contains(&x) && (30..150).contains(&y);
    let (dir, _, depth) = clip(
        "comfort_autocrop",
        (w, h),
        n,
        |_, _, _| [0, 0, 0],
        |_, x, _| if x < 140 { 0.95 } else { 0.25 },
    );
    let video = dir.join("boxed.mp4");
    let caps = gstreamer::Caps::builder("video/x-raw")
        .field("format", "RGBA")
        .field("width", w as i32)
        .field("height", h as i32)
        .field("framerate", gstreamer::Fraction::new(24, 1))
        .build();
    let frames = (0..n).map(move |t| {
        (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .flat_map(|(x, y)| {
                let [r, g, b] = if inside(x, y) {
                    speckle(x + 2 * t, y, 9)
                } else {
                    [0, 0, 0]
                };
                [r, g, b, 255]
            })
            .collect()
    });
    stereosplat::media::synth::write_frames(
        &caps,
        &format!(
            "videoconvert ! video/x-raw,format=I420 ! x264enc ! mp4mux ! filesink location=\"{}\"",
            video.display()
        ),
        frames,
        24,
    )
    .unwrap();
    let render = |name: &str, extra: &[&str]| {
        let out = dir.join(name);
        let mut a = vec![
            "render",
            s(&video),
            "--depth",
            s(&depth),
            "-o",
            s(&out),
            "--crf",
            "0",
            "--max-disp",
            "16",
        ];
        a.extend_from_slice(extra);
        let r = stereosplat(&a);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        (out, r.stderr)
    };
    // Pixels of the bars (both eyes of a full side-by-side frame) whose luma is not 16.
    let bar_pixels = |frames: &[Vec<u8>]| -> (usize, usize) {
        let (mut off, mut all) = (0, 0);
        for f in frames {
            for y in 0..h {
                for x in 0..2 * w {
                    if !inside(x % w, y) {
                        all += 1;
                        off += usize::from(f[(y * 2 * w + x) as usize] != 16);
                    }
                }
            }
        }
        (off, all)
    };

    let (plain, _) = render("plain.mp4", &[]);
    let (plain, _) = luma_of(&plain);
    let (smeared, _) = bar_pixels(&plain);
    assert!(
        smeared > 500,
        "without --autocrop the picture is expected to spill into the bars ({smeared} px did)"
    );

    let (kept, log) = render("kept.mp4", &["--autocrop"]);
    assert!(
        log.contains("the picture is 240x120 at (40, 30) of 320x180"),
        "{log}"
    );
    let (kept, size) = luma_of(&kept);
    assert_eq!(size, (2 * w, h));
    assert_eq!(kept.len(), n as usize);
    let (off, all) = bar_pixels(&kept);
    assert_eq!(off, 0, "{off} of {all} bar pixels are not pure black");
    // The picture itself is warped: the near left part moves, the far right part less.
    let eye_mean = |f: &[u8], x0: u32| {
        let mut sum = 0u64;
        for y in 30..150 {
            for x in x0 + 40..x0 + 280 {
                sum += u64::from(f[(y * 2 * w + x) as usize]);
            }
        }
        sum as f64 / (240.0 * 120.0)
    };
    for f in &kept {
        assert!(eye_mean(f, 0) > 60.0 && eye_mean(f, w) > 60.0);
    }
    assert_ne!(
        &kept[0][(60 * 2 * w + 60) as usize..][..40],
        &kept[0][(60 * 2 * w + w + 60) as usize..][..40],
        "the eyes differ where the picture is near"
    );

    let (cropped, _) = render("cropped.mp4", &["--autocrop=crop"]);
    let (cropped, size) = luma_of(&cropped);
    assert_eq!(size, (2 * 240, 120), "crop mode outputs the picture alone");
    assert_eq!(cropped.len(), n as usize);
    // The same eyes as the kept render, without the bars.
    let inner = |f: &[u8], eye: u32| -> Vec<u8> {
        (30..150)
            .flat_map(|y| f[(y * 2 * w + eye * w + 40) as usize..][..240].to_vec())
            .collect()
    };
    let crop_eye = |f: &[u8], eye: u32| -> Vec<u8> {
        (0..120)
            .flat_map(|y| f[(y * 480 + eye * 240) as usize..][..240].to_vec())
            .collect()
    };
    for eye in 0..2 {
        let (a, b) = (inner(&kept[5], eye), crop_eye(&cropped[5], eye));
        let diff = a
            .iter()
            .zip(&b)
            .map(|(&p, &q)| i32::from(p).abs_diff(i32::from(q)))
            .max()
            .unwrap();
        assert!(
            diff <= 1,
            "eye {eye}: kept and cropped pictures differ by {diff}"
        );
    }

    // Careless lines: a bad mode is refused by name, and --post needs the crop mode.
    let r = stereosplat(&["render", s(&video), "-o", "x.mp4", "--autocrop=trim"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("keep") && r.stderr.contains("crop"),
        "{}",
        r.stderr
    );
}
