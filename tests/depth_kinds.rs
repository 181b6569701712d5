//! Each depth kind through the command line (`stereosplat render`), not only the warp
//! API: a constant depth moves every pixel by exactly the shift that kind's formula
//! gives, around that kind's own screen plane (relative: nearness, default 0.5; metric:
//! `--convergence-depth`, default infinity; disparity: pixels, default 0). Flags of
//! another kind are refused instead of being read in the wrong unit.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

struct Scene {
    dir: PathBuf,
    photo: PathBuf,
    pixels: Vec<u8>,
    size: (u32, u32),
}

fn scene(name: &str, size: (u32, u32)) -> Scene {
    let dir = common::work_dir(name);
    let photo = dir.join("photo.png");
    let pixels = common::texture_rgba(size, 7);
    common::write_png(&photo, size, "RGBA", pixels.clone());
    Scene {
        dir,
        photo,
        pixels,
        size,
    }
}

/// A constant depth image: 8-bit `value`, or 16-bit when `value` > 255.
fn flat_depth(s: &Scene, value: u16) -> PathBuf {
    let path = s.dir.join(format!("depth{value}.png"));
    let n = (s.size.0 * s.size.1) as usize;
    if value > 255 {
        let bytes = std::iter::repeat_n(value.to_be_bytes(), n)
            .flatten()
            .collect();
        common::write_png(&path, s.size, "GRAY16_BE", bytes);
    } else {
        common::write_png(&path, s.size, "GRAY8", vec![value as u8; n]);
    }
    path
}

/// Renders the right eye alone (`--eye right --layout right`) with `args`.
fn right_eye(s: &Scene, depth: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let out = s.dir.join(format!("{name}.png"));
    let run = Command::new(common::bin())
        .arg("render")
        .arg(&s.photo)
        .arg("--depth")
        .arg(depth)
        .args(["--eye", "right", "--layout", "right", "-q", "-o"])
        .arg(&out)
        .args(args)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (rgba, w, h) = common::read_rgba(&out);
    assert_eq!((w, h), s.size);
    rgba
}

/// Largest difference between output column x and source column x + `shift` (the
/// right eye sees the scene moved left: x_right = x_left - d), over every pixel that
/// has a source column.
fn error_of_shift(s: &Scene, out: &[u8], shift: u32) -> u8 {
    error_of_shift_inside(s, out, shift, 0)
}

/// As [`error_of_shift`], leaving out `edge` columns at either side.
fn error_of_shift_inside(s: &Scene, out: &[u8], shift: u32, edge: usize) -> u8 {
    let (w, h) = (s.size.0 as usize, s.size.1 as usize);
    let d = shift as usize;
    let mut worst = 0;
    for y in 0..h {
        for x in edge..w - d - edge {
            for c in 0..3 {
                let o = out[(y * w + x) * 4 + c];
                let p = s.pixels[(y * w + x + d) * 4 + c];
                worst = worst.max(o.abs_diff(p));
            }
        }
    }
    worst
}

#[test]
fn a_constant_disparity_moves_every_pixel_by_exactly_that_many_pixels() {
    let s = scene("kinds_disparity", (321, 181));
    // 40 * 0.25 = 10 px, the issue's own case: before the fix, relative depth's 0.5
    // leaked in as half a pixel and every column was the mean of two neighbours.
    let depth = flat_depth(&s, 40);
    let plain = &["--depth-kind", "disparity", "--depth-scale", "0.25"];
    let out = right_eye(&s, &depth, "d10", plain);
    assert_eq!(error_of_shift(&s, &out, 10), 0, "not an exact 10 px shift");
    assert!(
        error_of_shift(&s, &out, 9) > 40,
        "the check cannot tell 9 from 10"
    );
    // The screen plane in pixels: 3 px of disparity at the screen leaves 7.
    let converged = [plain.as_slice(), &["--convergence", "3"]].concat();
    let out = right_eye(&s, &depth, "d7", &converged);
    assert_eq!(error_of_shift(&s, &out, 7), 0, "not an exact 7 px shift");
    // Exactly 10 columns at the edge have no source: the hole mask shows them.
    let holes = s.dir.join("holes.png");
    let run = Command::new(common::bin())
        .arg("render")
        .arg(&s.photo)
        .arg("--depth")
        .arg(&depth)
        .args(plain)
        .args(["--layout", "holes", "-q", "-o"])
        .arg(&holes)
        .output()
        .unwrap();
    assert!(run.status.success());
    let (mask, w, _) = common::read_rgba(&holes);
    let hole_columns = (0..w as usize)
        .filter(|&x| mask[x * 4] > 128 && mask[(100 * w as usize + x) * 4] > 128)
        .count();
    assert_eq!(hole_columns, 10);
}

#[test]
fn a_constant_metric_depth_moves_by_the_metric_formula() {
    // W = 320 and xfov = 90 deg give fx = 160; IPD 63 mm at 2.52 m: fx * ipd / z = 4 px.
    let s = scene("kinds_metric", (320, 180));
    let depth = flat_depth(&s, 2520);
    let args = [
        "--depth-kind",
        "metric",
        "--depth-scale",
        "0.001",
        "--xfov",
        "90",
        "--ipd-mm",
        "63",
    ];
    let out = right_eye(&s, &depth, "m4", &args);
    // f32 arithmetic leaves the shift within a millionth of a pixel of 4.
    assert!(error_of_shift(&s, &out, 4) <= 1, "not a 4 px shift");
    assert!(error_of_shift(&s, &out, 3) > 40);
    // Converging at the plane's own distance puts it at the screen: no shift (f32
    // leaves it a ten-millionth of a pixel off, which uncovers the edge column).
    let converged = [args.as_slice(), &["--convergence-depth", "2.52"]].concat();
    let out = right_eye(&s, &depth, "m0", &converged);
    assert!(
        error_of_shift_inside(&s, &out, 0, 1) <= 1,
        "not at the screen plane"
    );
}

#[test]
fn a_constant_relative_depth_sits_at_the_screen_unless_converged_elsewhere() {
    // Relative depth is normalised over the clip; a constant map is all at 0.5, which
    // is the default screen plane: no shift. Converging at 0.25 moves it by
    // 2 (0.5 - 0.25) 8 = 4 px.
    let s = scene("kinds_relative", (321, 181));
    let depth = flat_depth(&s, 100);
    let out = right_eye(&s, &depth, "r0", &["--max-disp", "8"]);
    assert_eq!(error_of_shift(&s, &out, 0), 0);
    let out = right_eye(
        &s,
        &depth,
        "r4",
        &["--max-disp", "8", "--convergence", "0.25"],
    );
    assert_eq!(error_of_shift(&s, &out, 4), 0, "not an exact 4 px shift");
}

#[test]
fn flags_of_another_depth_kind_are_refused() {
    let s = scene("kinds_flags", (64, 36));
    let depth = flat_depth(&s, 40);
    let out = s.dir.join("out.png");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--depth-kind", "disparity", "--max-disp", "9"],
            "--max-disp",
        ),
        (
            &[
                "--depth-kind",
                "metric",
                "--xfov",
                "60",
                "--convergence",
                "0.5",
            ],
            "--convergence-depth",
        ),
        (&["--convergence-depth", "3"], "--convergence-depth"),
        (&["--depth-scale", "2"], "--depth-scale"),
        (&["--depth-kind", "disparity", "--ipd-mm", "60"], "--ipd-mm"),
        (
            &[
                "--depth-kind",
                "metric",
                "--xfov",
                "60",
                "--depth-far-bright",
            ],
            "--depth-far-bright",
        ),
    ];
    for (args, flag) in cases {
        let run = Command::new(common::bin())
            .arg("render")
            .arg(&s.photo)
            .arg("--depth")
            .arg(&depth)
            .arg("-o")
            .arg(&out)
            .args(*args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(!out.exists());
    }
}

#[test]
fn the_preset_command_line_sets_only_its_own_kind() {
    use stereosplat::preset::Preset;
    use stereosplat::stereo::DepthKind;
    let relative = Preset {
        convergence: 0.3,
        convergence_px: 5.0,
        ..Preset::default()
    };
    let line = relative.command_line(Path::new("a.mp4"), Path::new("b.mp4"));
    assert!(line.contains("--convergence 0.3") && line.contains("--max-disp"));
    let disparity = Preset {
        depth_kind: DepthKind::Disparity,
        ..relative.clone()
    };
    let line = disparity.command_line(Path::new("a.mp4"), Path::new("b.mp4"));
    assert!(line.contains("--convergence 5"), "{line}");
    assert!(!line.contains("--max-disp"), "{line}");
    let metric = Preset {
        depth_kind: DepthKind::Metric,
        xfov: Some(60.0),
        ..relative
    };
    let line = metric.command_line(Path::new("a.mp4"), Path::new("b.mp4"));
    assert!(
        !line.contains("--convergence ") && !line.contains("--max-disp"),
        "{line}"
    );
    assert!(line.contains("--xfov 60"), "{line}");
}
