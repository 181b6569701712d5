//! The preview: its control panel driven headless with egui_kittest, a real window under
//! Xvfb showing the composed stereo frame, live shader reload keeping the last good
//! pipeline, and presets giving the same render as the flags they stand for.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{self, NodeT, Queryable};
use stereosplat::gpu::{Composer, ShaderSet, Warper, read_texture};
use stereosplat::layout::{Anaglyph, Layout};
use stereosplat::media::decode::{DecodeOptions, Decoder, PixelFormat};
use stereosplat::preset::Preset;
use stereosplat::preview::controls::{Live, View, controls};
use stereosplat::preview::watch::ShaderWatch;
use stereosplat::stereo::{DepthKind, DepthRange, FillMode, StereoParams};

#[test]
fn control_panel_changes_the_settings() {
    // Tall enough for the whole panel: clicks land where the widgets are drawn.
    let mut harness = Harness::builder()
        .with_size([500.0, 1600.0])
        .build_ui_state(
            |ui, state: &mut (Preset, View, bool)| {
                state.2 |= controls(ui, &mut state.0, &mut state.1, &Live::default());
            },
            (Preset::default(), View::Layout(Layout::Anaglyph), false),
        );
    harness.run();
    assert!(!harness.state().2, "nothing changed yet");

    harness
        .get_by_role_and_label(Role::Slider, "max disparity (px)")
        .set_value_accesskit(33.0);
    harness.run();
    assert_eq!(harness.state().0.max_disp, 33.0);
    assert!(
        harness.state().2,
        "a change is reported so the frame is recomposed"
    );

    harness
        .get_by_role_and_label(
            Role::Slider,
            "convergence (nearness at the screen: 0 far .. 1 near)",
        )
        .set_value_accesskit(0.25);
    harness.get_by_label("scanline").click();
    harness.get_by_label("remove edges").click();
    harness.run();
    let p = &harness.state().0;
    assert_eq!(p.convergence, 0.25);
    assert_eq!(p.fill, FillMode::Scanline);
    assert!(p.edge_threshold.is_some());

    // Metric depth shows the camera controls.
    harness.get_by_label("metric").click();
    harness.run();
    assert_eq!(harness.state().0.depth_kind, DepthKind::Metric);
    harness
        .get_by_role_and_label(Role::Slider, "IPD (mm)")
        .set_value_accesskit(70.0);
    harness.run();
    assert_eq!(harness.state().0.ipd_mm, 70.0);
    assert!(harness.state().0.xfov.is_some());
}

#[test]
fn comfort_controls_set_every_comfort_setting_and_show_both_strengths() {
    use stereosplat::layout::Autocrop;
    use stereosplat::stereo::DepthCurve;
    let live = Live {
        width: 1000,
        plane: Some("nearness 0.640".into()),
        comfort: Some("this frame: nearest +9.0 px".into()),
        window: [0.01, 0.0],
    };
    let mut harness = Harness::builder()
        .with_size([500.0, 1600.0])
        .build_ui_state(
            move |ui, state: &mut (Preset, View, bool)| {
                state.2 |= controls(ui, &mut state.0, &mut state.1, &live);
            },
            (
                Preset {
                    max_disp: 20.0,
                    ..Preset::default()
                },
                View::Layout(Layout::Anaglyph),
                false,
            ),
        );
    harness.run();
    // The strength in both units: ±20 px is a range of 40 px, 4 % of 1000.
    harness.get(kittest::by().role(Role::Label).value("= 4.00 % of 1000 px"));
    harness
        .get_by_label("strength as % of the width (--divergence)")
        .click();
    harness.run();
    assert_eq!(harness.state().0.divergence, Some(4.0));
    harness
        .get_by_role_and_label(Role::Slider, "divergence (% of width)")
        .set_value_accesskit(3.0);
    harness.run();
    assert_eq!(harness.state().0.max_disp, 15.0);
    harness.get(
        kittest::by()
            .role(Role::Label)
            .value("= 15.0 px at 1000 px wide"),
    );

    // A curve and its parameter; the plot is drawn beside them.
    harness.get_by_label("depth curve").click();
    harness.run();
    harness.get_by_label("gamma").click();
    harness.run();
    harness
        .get_by_role_and_label(Role::Slider, "G (exponent)")
        .set_value_accesskit(1.5);
    harness
        .get_by_role_and_label(Role::Slider, "foreground scale (near half)")
        .set_value_accesskit(2.0);
    harness.run();
    // (One click per frame: each shows more controls below it.)
    harness.get_by_label("preserve the screen border").click();
    harness.run();
    harness.get_by_label("floating window").click();
    harness.run();
    harness
        .get_by_label("convergence follows the subject (auto)")
        .click();
    harness.run();
    let p = &harness.state().0;
    assert_eq!(p.depth_curve, DepthCurve::Gamma(1.5));
    assert_eq!(p.foreground_scale, 2.0);
    assert_eq!(p.preserve_border, Some(5.0));
    assert!(p.floating_window && p.convergence_auto);
    // What the window measured of the current frame is shown.
    harness.get(
        kittest::by()
            .role(Role::Label)
            .value("screen plane now: nearness 0.640"),
    );
    harness.get(
        kittest::by()
            .role(Role::Label)
            .value("bands now: left 10.0 px, right 0.0 px"),
    );
    harness.get(
        kittest::by()
            .role(Role::Label)
            .value("this frame: nearest +9.0 px"),
    );

    // The learned fill asks for its model.
    harness.get_by_label("model").click();
    harness.run();
    harness
        .get_by_role_and_label(Role::TextInput, "inpainting model")
        .click();
    harness.run();
    harness
        .get_by_role_and_label(Role::TextInput, "inpainting model")
        .type_text("models/tiny-inpaint.onnx");
    harness.run();
    assert_eq!(harness.state().0.fill, FillMode::Model);
    assert_eq!(
        harness.state().0.inpaint_model.as_deref(),
        Some(Path::new("models/tiny-inpaint.onnx"))
    );

    harness.get_by_label("letterbox bars").click();
    harness.run();
    harness.get_by_label("found, cropped").click();
    harness
        .get_by_role_and_label(Role::Slider, "screen width (m)")
        .set_value_accesskit(3.0);
    harness.run();
    let p = harness.state().0.clone();
    assert_eq!(p.autocrop, Some(Autocrop::Crop));
    assert_eq!(p.screen_width_m, 3.0);
    // The preset round-trips through TOML and spells the same choices as flags.
    let line = p.command_line(Path::new("a.mp4"), Path::new("b.mp4"));
    for flag in [
        "--divergence 3",
        "--convergence auto",
        "--depth-curve gamma:1.5",
        "--foreground-scale 2",
        "--preserve-border=5",
        "--floating-window",
        "--autocrop=crop",
        "--screen-width-m 3",
        "--fill model",
        "--inpaint-model models/tiny-inpaint.onnx",
    ] {
        assert!(line.contains(flag), "{flag} missing from {line}");
    }
}

/// Starts Xvfb on a free display; killed on drop.
struct Xvfb(std::process::Child, String);

impl Xvfb {
    fn start() -> Self {
        for n in 90..120 {
            // Busy when its lock names a live process; a killed server leaves a stale
            // lock and socket behind, which Xvfb replaces.
            let lock = std::fs::read_to_string(format!("/tmp/.X{n}-lock")).unwrap_or_default();
            let pid = lock.trim();
            if !pid.is_empty() && Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            let display = format!(":{n}");
            let spawned = std::time::SystemTime::now() - Duration::from_secs(1);
            let child = Command::new("Xvfb")
                .args([&display, "-screen", "0", "1400x900x24", "-nolisten", "tcp"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("Xvfb (install xvfb; .ci/setup does)");
            let socket = format!("/tmp/.X11-unix/X{n}");
            let t = Instant::now();
            // Ready once it has made its socket (a stale one from a killed server is
            // older than this server).
            let fresh = || {
                std::fs::metadata(&socket)
                    .and_then(|m| m.modified())
                    .is_ok_and(|m| m >= spawned)
            };
            while !fresh() && t.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return Xvfb(child, display);
        }
        panic!("no free X display");
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `stereosplat preview ARGS` in `dir` on the Xvfb display, stderr piped.
fn spawn_preview(dir: &Path, x: &Xvfb, args: &[&str]) -> std::process::Child {
    Command::new(common::bin())
        .arg("preview")
        .args(args)
        .current_dir(dir)
        .env("DISPLAY", &x.1)
        .env_remove("WAYLAND_DISPLAY")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

// One test for both warps: parallel tests would race for the same free X display.
#[test]
fn window_under_xvfb_shows_the_composed_anaglyph_and_exits_cleanly() {
    window_shows_the_anaglyph("gpu");
    window_shows_the_anaglyph("cpu");
    unattended_errors_end_the_preview();
    the_window_follows_the_subject_with_auto_convergence();
    the_3d_view_shows_the_scene_from_the_moved_camera();
}

/// Colour classes of the ray-traced scene's spheres (dark blue squares, the red
/// squares, the green sphere): none of them occurs on the floor, wall or UI.
fn sphere_class(p: &[u8]) -> Option<usize> {
    let (r, g, b) = (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]));
    if b > 80.0 && b > 2.0 * r && b > 1.5 * g {
        Some(0)
    } else if r > 80.0 && r > 3.0 * g && r > 3.0 * b {
        Some(1)
    } else if g > 80.0 && g > 1.4 * r && g > 2.0 * b {
        Some(2)
    } else {
        None
    }
}

/// Centroid and count of each class over a `w` x `h` picture given by `pixel(x, y)`.
fn class_centroids(
    w: usize,
    h: usize,
    pixel: impl Fn(usize, usize) -> Option<usize>,
) -> [(f32, f32, usize); 3] {
    let mut acc = [(0f32, 0f32, 0usize); 3];
    for y in 0..h {
        for x in 0..w {
            if let Some(c) = pixel(x, y) {
                acc[c].0 += x as f32 + 0.5;
                acc[c].1 += y as f32 + 0.5;
                acc[c].2 += 1;
            }
        }
    }
    acc.map(|(x, y, n)| (x / n.max(1) as f32, y / n.max(1) as f32, n))
}

/// The 3D view opened on a moved camera (`--layout novel --camera-offset ...`, the flags
/// the view itself shows for its camera) draws the scene from there: the spheres land
/// where a CPU projection of the scene's known points (each pixel at its true distance,
/// through view3d's pinhole, nearest point kept) puts them.
fn the_3d_view_shows_the_scene_from_the_moved_camera() {
    use stereosplat::media::synth::{Camera, Scene, write_frames};
    use stereosplat::view3d::{Pose, SourceCamera, ViewCamera};
    let dir = common::work_dir("preview_orbit");
    let (w, h) = (320u32, 180u32);
    let cam = Camera::with_fov(w, h, 60.0);
    let (rgba, z) = Scene { time: 0.4 }.render(&cam);
    // A still scene as a clip: every frame the same, so the screenshot cannot race it.
    let caps = |format: &str| {
        gstreamer::Caps::builder("video/x-raw")
            .field("format", format)
            .field("width", w as i32)
            .field("height", h as i32)
            .field("framerate", gstreamer::Fraction::new(24, 1))
            .build()
    };
    stereosplat::media::init().unwrap();
    write_frames(
        &caps("RGBA"),
        &format!(
            "videoconvert ! video/x-raw,format=I420 ! x264enc pass=quant quantizer=12 ! mp4mux ! filesink location={}",
            dir.join("still.mp4").display()
        ),
        std::iter::repeat_n(rgba.clone(), 48),
        24,
    )
    .unwrap();
    let step = 20.0 / 65535.0;
    let raw: Vec<u8> = z
        .iter()
        .flat_map(|z| ((z / step).round().clamp(1.0, 65535.0) as u16).to_le_bytes())
        .collect();
    write_frames(
        &caps("GRAY16_LE"),
        &format!(
            "avenc_ffv1 ! matroskamux ! filesink location={}",
            dir.join("still_depth.mkv").display()
        ),
        std::iter::repeat_n(raw, 48),
        24,
    )
    .unwrap();
    let pose = Pose {
        offset: [0.3, 0.25, 0.4],
        rotate_deg: [4.0, -6.0, 0.0],
    };
    let x = Xvfb::start();
    let mut child = spawn_preview(
        &dir,
        &x,
        &[
            "still.mp4",
            "--depth-kind",
            "metric",
            "--max-depth",
            "20",
            "--xfov",
            "60",
            "--layout",
            "novel",
            "--camera-offset",
            "0.3,0.25,0.4",
            "--camera-rotate",
            "4,-6,0",
            "--play",
            "--exit-after-frames",
            "20",
        ],
    );
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let shot = dir.join("screen.png");
    let (mut log, mut shown, mut rect) = (String::new(), 0, None);
    for line in stderr.lines() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if let Some(r) = line.strip_prefix("preview: picture at ") {
            let v: Vec<f32> = r
                .replace(" size ", ",")
                .replace(" px", "")
                .replace('x', ",")
                .split(',')
                .map(|p| p.parse().unwrap())
                .collect();
            rect = Some([v[0], v[1], v[2], v[3]]);
        }
        if line.starts_with("preview: frame") {
            shown += 1;
            if shown == 8 {
                let ok = Command::new("import")
                    .args(["-display", &x.1, "-window", "root", shot.to_str().unwrap()])
                    .status()
                    .unwrap();
                assert!(ok.success());
            }
        }
    }
    assert!(child.wait().unwrap().success(), "preview failed:\n{log}");
    assert!(shown >= 20, "the 3D view plays: {log}");
    let [rx, ry, rw, rh] = rect.unwrap_or_else(|| panic!("no picture rect:\n{log}"));

    // The view's picture, sampled from the screenshot at the frame's own pixels.
    let mut dec = Decoder::open(&shot, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
    let f = dec.next_frame().unwrap().unwrap();
    let stride = f.stride_bytes() as usize;
    let screen = f.data();
    let seen = class_centroids(w as usize, h as usize, |px, py| {
        let sx = (rx + (px as f32 + 0.5) * rw / w as f32) as usize;
        let sy = (ry + (py as f32 + 0.5) * rh / h as f32) as usize;
        sphere_class(&screen[sy * stride + 4 * sx..])
    });

    // The CPU projection: every source pixel at its true distance, nearest kept.
    let source = SourceCamera::new(
        &StereoParams {
            camera: stereosplat::stereo::MetricCamera {
                fx_px: cam.fx,
                ..Default::default()
            },
            ..Default::default()
        },
        &DepthRange {
            kind: DepthKind::Metric,
            q_max: 1.0,
            ..Default::default()
        },
        (w, h),
        (w, h),
        Some(60.0),
    );
    let project = |pose: Pose| {
        let view = ViewCamera::new(source, pose);
        let mut nearest = vec![(f32::INFINITY, None); (w * h) as usize];
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) as usize;
                let Some(p) = source.unproject_image(x as f32, y as f32, 1.0 / z[i]) else {
                    continue;
                };
                let Some((u, v, d)) = view.project_image(p) else {
                    continue;
                };
                // The pixel's square, magnified as much as it came nearer: the target
                // pixels whose centres it covers.
                let half = 0.5 * z[i] / d;
                let span = |c: f32, n: u32| {
                    let first = (c - half - 0.5).ceil().max(0.0) as u32;
                    let last = (c + half - 0.5).floor().min(n as f32 - 1.0);
                    first..(last + 1.0).max(0.0) as u32
                };
                for ty in span(v, h) {
                    for tx in span(u, w) {
                        let j = (ty * w + tx) as usize;
                        if d < nearest[j].0 {
                            nearest[j] = (d, sphere_class(&rgba[4 * i..]));
                        }
                    }
                }
            }
        }
        class_centroids(w as usize, h as usize, |x, y| nearest[y * w as usize + x].1)
    };
    let expected = project(pose);
    let unmoved = project(Pose::default());
    for c in 0..3 {
        let (s, e, u) = (seen[c], expected[c], unmoved[c]);
        println!("sphere {c}: seen {s:?}, projected {e:?}, from the source camera {u:?}");
        let off = ((s.0 - e.0).powi(2) + (s.1 - e.1).powi(2)).sqrt();
        let moved = ((u.0 - e.0).powi(2) + (u.1 - e.1).powi(2)).sqrt();
        assert!(
            moved > 8.0,
            "the camera move should move sphere {c}: {moved} px"
        );
        // Measured 2026-12-07: 2.3, 0.6 and 1.2 px (H.264 colours at the class edges,
        // and the mesh drawn every second pixel).
        assert!(
            off < 3.5,
            "sphere {c} is {off:.2} px from its projection; see {}",
            shot.display()
        );
        let ratio = s.2 as f32 / e.2.max(1) as f32;
        assert!(
            (0.7..1.4).contains(&ratio),
            "sphere {c}: {} pixels seen, {} projected",
            s.2,
            e.2
        );
    }
}

/// With a preset asking for auto convergence and the floating window, the window
/// measures the clip on a thread and then shows the screen plane moving with the scene.
fn the_window_follows_the_subject_with_auto_convergence() {
    let dir = common::work_dir("preview_auto_convergence");
    stereosplat::media::synth::write_sample(&dir, (160, 90), 96, 24).unwrap();
    let preset = dir.join("auto.toml");
    // With the model fill too (the window warps on the CPU for it).
    Preset {
        convergence_auto: true,
        floating_window: true,
        fill: FillMode::Model,
        inpaint_model: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny-inpaint.onnx")),
        ..Preset::default()
    }
    .save(&preset)
    .unwrap();
    let x = Xvfb::start();
    let mut child = spawn_preview(
        &dir,
        &x,
        &[
            "sample.mp4",
            "--play",
            "--exit-after-frames",
            "60",
            "--preset",
            preset.to_str().unwrap(),
        ],
    );
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "preview failed:\n{log}");
    let planes: std::collections::BTreeSet<&str> = log
        .lines()
        .filter_map(|l| l.split_once("screen plane nearness ").map(|(_, v)| v))
        .collect();
    assert!(
        planes.len() >= 3,
        "the screen plane should move with the scene, saw {planes:?}:\n{log}"
    );
    assert!(log.contains("inpainting model"), "{log}");
    assert!(log.contains("model call(s)"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

/// With --exit-after-frames nobody reads the window: an error there ends the preview
/// with exit code 1 and the message on stderr, instead of waiting for frames forever
/// (a missing clip) or failing inside wgpu (a frame larger than the GPU's textures).
fn unattended_errors_end_the_preview() {
    let dir = common::work_dir("preview_unattended_errors");
    let limit = common::gpu().device.limits().max_texture_dimension_2d;
    let wide = limit + 16;
    for (name, pattern) in [("wide.png", "smpte"), ("wide_depth.png", "gradient")] {
        stereosplat::media::synth::run_launch(&format!(
            "videotestsrc num-buffers=1 pattern={pattern} ! \
             video/x-raw,format=RGB,width={wide},height=8 ! pngenc ! filesink location=\"{}\"",
            dir.join(name).display()
        ))
        .unwrap();
    }
    let x = Xvfb::start();
    let cases = [
        (
            "wide.png",
            format!("the preview cannot show {wide}x8 frames"),
        ),
        ("missing.mp4", "no such file".to_string()),
    ];
    for (clip, expect) in cases {
        let mut child = spawn_preview(
            &dir,
            &x,
            &[clip, "--layout", "half-sbs", "--exit-after-frames", "3"],
        );
        // Read on a thread, so a chatty child never blocks on a full pipe.
        let mut stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut log = String::new();
            std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
            log
        });
        let t = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if t.elapsed() > Duration::from_secs(90) {
                let _ = child.kill();
                panic!("preview of {clip} did not end");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let log = reader.join().unwrap();
        assert_eq!(status.code(), Some(1), "{clip}:\n{log}");
        assert!(log.contains(&expect), "{clip}: no {expect:?} in\n{log}");
        assert!(!log.contains("panicked"), "{clip}:\n{log}");
    }
}

fn window_shows_the_anaglyph(device: &str) {
    let dir = common::work_dir(&format!("preview_window_{device}"));
    // Long enough that 40 frames show even when late ones are dropped (lavapipe draws
    // the fitted frame large).
    stereosplat::media::synth::write_sample(&dir, (160, 90), 120, 24).unwrap();
    let x = Xvfb::start();
    let mut child = spawn_preview(
        &dir,
        &x,
        &[
            "sample.mp4",
            "--play",
            "--exit-after-frames",
            "40",
            "--warp-device",
            device,
        ],
    );
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let shot = dir.join("screen.png");
    let mut log = String::new();
    let mut shown = 0;
    for line in stderr.lines() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.starts_with("preview: frame") {
            shown += 1;
            if shown == 10 {
                let ok = Command::new("import")
                    .args(["-display", &x.1, "-window", "root", shot.to_str().unwrap()])
                    .status()
                    .expect("ImageMagick's import (.ci/setup installs it)");
                assert!(ok.success());
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "preview failed:\n{log}");
    assert!(shown >= 40, "{log}");
    assert!(log.contains("40 frames shown, closing"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(
        log.contains("warping on the CPU"),
        device == "cpu",
        "{device}:\n{log}"
    );

    // The screenshot holds the anaglyph: many strongly red or cyan pixels, which the
    // grey and black UI never has.
    let mut dec = Decoder::open(&shot, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
    let f = dec.next_frame().unwrap().unwrap();
    let (w, h, stride) = (
        f.width() as usize,
        f.height() as usize,
        f.stride_bytes() as usize,
    );
    let d = f.data();
    let mut coloured = 0;
    for y in 0..h {
        for x in 0..w {
            let p = &d[y * stride + 4 * x..];
            let (r, g, b) = (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
            if (r - g).abs() > 60 || (r - b).abs() > 60 {
                coloured += 1;
            }
        }
    }
    assert!(
        coloured > 2000,
        "the window shows no composed frame ({coloured} coloured pixels); see {}",
        shot.display()
    );
}

/// Warps and composes one synthetic frame (a ramp in depth) and reads the output back.
fn compose_once(
    ctx: &stereosplat::gpu::GpuContext,
    warper: &mut Warper,
    composer: &mut Composer,
) -> Vec<u8> {
    let size = (64u32, 32u32);
    warper.prepare(ctx, size, size, StereoParams::default().eye);
    composer
        .prepare(ctx, warper, Layout::Anaglyph, Anaglyph::Dubois, false)
        .unwrap();
    let rgba: Vec<u8> = (0..64 * 32 * 4).map(|i| (i * 13 % 251) as u8).collect();
    let depth: Vec<u8> = (0..64 * 32)
        .flat_map(|i: u32| ((i % 64) as u16 * 1000).to_le_bytes())
        .collect();
    warper.upload_color(&ctx.queue, &rgba, 64 * 4);
    warper.upload_depth(&ctx.queue, &depth, 64 * 2);
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    let range = DepthRange {
        min: 0.0,
        max: 1.0,
        ..Default::default()
    };
    warper.encode(&ctx.queue, &mut enc, &StereoParams::default(), &range);
    composer.encode(&ctx.queue, &mut enc);
    ctx.queue.submit([enc.finish()]);
    read_texture(ctx, composer.output_texture())
}

fn copy_shaders(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir("shaders").unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn broken_shader_keeps_the_last_good_pipeline_and_a_fix_takes_effect() {
    let ctx = common::gpu();
    let dir = common::work_dir("preview_reload").join("shaders");
    copy_shaders(&dir);
    let set = ShaderSet::Directory(dir.clone());
    let mut warper = Warper::new(ctx, &set).unwrap();
    let mut composer = Composer::new(ctx, &set).unwrap();
    let before = compose_once(ctx, &mut warper, &mut composer);
    let mut watch = ShaderWatch::new(&dir);

    // Break compose.wgsl: the error names the file and line; the old pipeline runs on.
    let path = dir.join("compose.wgsl");
    let good = std::fs::read_to_string(&path).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&path, good.replacen("fn main(", "fn main(oops ", 1)).unwrap();
    std::thread::sleep(Duration::from_millis(350));
    assert!(watch.changed(), "the watcher sees the save");
    let err = composer.reload(ctx, &set).unwrap_err().to_string();
    assert!(err.contains("compose.wgsl"), "{err}");
    assert!(err.contains(':'), "the message gives a position: {err}");
    assert_eq!(compose_once(ctx, &mut warper, &mut composer), before);

    // Fix it with a visible change (inverted colours): the new pipeline is used.
    let inverted = good.replace(
        "vec4<f32>(clamp(c.rgb, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0)",
        "vec4<f32>(1.0 - clamp(c.rgb, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0)",
    );
    assert_ne!(
        inverted, good,
        "compose.wgsl's store line changed; update this test"
    );
    std::fs::write(&path, inverted).unwrap();
    std::thread::sleep(Duration::from_millis(350));
    assert!(watch.changed());
    composer.reload(ctx, &set).unwrap();
    let after = compose_once(ctx, &mut warper, &mut composer);
    for (a, b) in after.chunks_exact(4).zip(before.chunks_exact(4)) {
        for c in 0..3 {
            assert!((i32::from(a[c]) - (255 - i32::from(b[c]))).abs() <= 1);
        }
    }

    // The warper reloads the same way: a broken warp shader is an error, nothing changes.
    let splat = dir.join("warp_splat.wgsl");
    std::fs::write(&splat, "this is not wgsl").unwrap();
    let err = warper.reload(ctx, &set).unwrap_err().to_string();
    assert!(err.contains("warp_splat.wgsl"), "{err}");
    assert_eq!(compose_once(ctx, &mut warper, &mut composer), after);
}

fn decoded_frames(path: &Path) -> Vec<Vec<u8>> {
    let mut dec = Decoder::open(path, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
    let mut out = Vec::new();
    while let Some(f) = dec.next_frame().unwrap() {
        out.push(f.data().to_vec());
    }
    out
}

#[test]
fn a_saved_preset_renders_exactly_like_its_command_line() {
    let dir = common::work_dir("preview_preset");
    stereosplat::media::synth::write_sample(&dir, (96, 54), 8, 24).unwrap();
    let input = dir.join("sample.mp4");
    let preset = Preset {
        max_disp: 9.0,
        convergence: 0.3,
        layout: Layout::HalfSbs,
        fill: FillMode::Scanline,
        dilate: 2,
        edge_threshold: Some(0.05),
        speed_preset: "ultrafast".into(),
        crf: 18,
        ..Preset::default()
    };
    let preset_path = dir.join("look.toml");
    preset.save(&preset_path).unwrap();
    assert_eq!(Preset::load(&preset_path).unwrap(), preset);

    let run = |args: Vec<String>| {
        let o = Command::new(common::bin()).args(&args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let from_preset = dir.join("from_preset.mkv");
    run(vec![
        "render".into(),
        input.display().to_string(),
        "-o".into(),
        from_preset.display().to_string(),
        "--preset".into(),
        preset_path.display().to_string(),
    ]);
    // The command line the window shows, run as is.
    let from_flags = dir.join("from_flags.mkv");
    let line = preset.command_line(&input, &from_flags);
    let args: Vec<String> = line.split_whitespace().skip(1).map(String::from).collect();
    run(args);
    let a = decoded_frames(&from_preset);
    assert_eq!(a.len(), 8);
    assert!(
        a == decoded_frames(&from_flags),
        "preset and flags must give the same frames"
    );

    // A typed flag wins over the preset.
    let typed = dir.join("typed.mkv");
    run(vec![
        "render".into(),
        input.display().to_string(),
        "-o".into(),
        typed.display().to_string(),
        "--preset".into(),
        preset_path.display().to_string(),
        "--max-disp".into(),
        "0".into(),
    ]);
    let flat = decoded_frames(&typed);
    assert!(flat != a, "--max-disp 0 must override the preset's 9");

    // A broken preset is a clear error.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "max_dips = 3\n").unwrap();
    let o = Command::new(common::bin())
        .args(["render", input.to_str().unwrap(), "-o"])
        .arg(dir.join("x.mkv"))
        .arg("--preset")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("max_dips"),
        "{err}"
    );
    let _: PathBuf = dir;
}

fn png_rgba(path: &Path) -> (Vec<u8>, usize, usize) {
    let mut dec = Decoder::open(path, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
    let f = dec.next_frame().unwrap().unwrap();
    let (w, h, stride) = (
        f.width() as usize,
        f.height() as usize,
        f.stride_bytes() as usize,
    );
    let mut out = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        out.extend_from_slice(&f.data()[y * stride..y * stride + 4 * w]);
    }
    (out, w, h)
}

#[test]
fn post_process_slot_runs_user_wgsl_and_reports_its_errors() {
    let dir = common::work_dir("preview_post");
    stereosplat::media::synth::write_sample(&dir, (96, 54), 4, 24).unwrap();
    let input = dir.join("sample.mp4");
    let render = |out: &str, extra: &[&str]| {
        Command::new(common::bin())
            .arg("render")
            .arg(&input)
            .arg("-o")
            .arg(dir.join(out))
            .args(extra)
            .output()
            .unwrap()
    };
    for (out, extra) in [
        ("left.png", vec!["--layout", "left"]),
        ("right.png", vec!["--layout", "right"]),
        (
            "rows.png",
            vec![
                "--layout",
                "left",
                "--post",
                "shaders/post/row_interleaved.wgsl",
            ],
        ),
    ] {
        let o = render(out, &extra);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (left, w, h) = png_rgba(&dir.join("left.png"));
    let (right, ..) = png_rgba(&dir.join("right.png"));
    let (rows, rw, rh) = png_rgba(&dir.join("rows.png"));
    assert_eq!((rw, rh), (w, h));
    assert_ne!(
        left, right,
        "the eyes differ, so the test can tell them apart"
    );
    // (The layouts sample the eyes at texel centres, the example loads texels: the same
    // values up to one step of 8-bit rounding.)
    for y in 0..h {
        let want = if y % 2 == 0 { &left } else { &right };
        let row = y * w * 4..(y + 1) * w * 4;
        let worst = rows[row.clone()]
            .iter()
            .zip(&want[row])
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 1, "row {y} differs by {worst}");
    }

    // A mistake in the user's file names the file and the culprit, and writes nothing.
    let broken = dir.join("broken.wgsl");
    std::fs::write(
        &broken,
        "fn post(p: vec2<u32>) -> vec4<f32> {\n    return oops;\n}\n",
    )
    .unwrap();
    let o = render("broken.png", &["--post", broken.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("broken.wgsl") && err.contains("oops"), "{err}");
    assert!(!dir.join("broken.png").exists());
    let o = render("x.png", &["--post", "missing.wgsl"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such file"));
}

#[test]
fn control_panel_renders_on_the_gpu_and_shows_what_changed() {
    // The same panel drawn through egui-wgpu on whatever adapter exists (lavapipe in CI).
    let mut harness = Harness::builder()
        .with_size(egui::vec2(420.0, 640.0))
        .wgpu()
        .build_ui_state(
            |ui, state: &mut (Preset, View)| {
                controls(ui, &mut state.0, &mut state.1, &Live::default());
            },
            (Preset::default(), View::Layout(Layout::Anaglyph)),
        );
    harness.run();
    let relative = harness.render().expect("a wgpu render of the panel");
    assert_eq!(relative.dimensions(), (420, 640));
    let distinct = |pixels: Vec<[u8; 4]>| {
        let mut colours = pixels;
        colours.sort_unstable();
        colours.dedup();
        colours.len()
    };
    // Text and widgets, not a blank or single-colour image.
    let n = distinct(relative.pixels().map(|p| p.0).collect());
    assert!(n > 20, "{n} colours");

    // Switching to metric depth swaps the disparity sliders for the camera's: the
    // picture changes.
    harness.get_by_label("metric").click();
    harness.run();
    let metric = harness.render().unwrap();
    let changed = relative
        .pixels()
        .zip(metric.pixels())
        .filter(|(a, b)| a != b)
        .count();
    assert!(changed > 500, "only {changed} pixels changed");
}

/// The whole window (the app eframe runs), driven by egui_kittest on the test's own
/// device: it opens a 1280x720 clip fitted to the view, and its lists read in the words a
/// viewer uses.
#[test]
fn the_window_opens_fitted_with_plain_names() {
    let dir = common::work_dir("preview_fitted");
    stereosplat::media::synth::write_sample(&dir, (1280, 720), 3, 24).unwrap();
    let job = stereosplat::render::RenderJob {
        input: dir.join("sample.mp4"),
        ..Default::default()
    };
    // Tall enough that the settings panel shows the depth panel without scrolling.
    let (window_w, window_h) = (1280.0, 1500.0);
    let (mut harness, image) = open_window(job, [window_w, window_h]);
    // The clip opens on a worker thread; step until its frame is shown.
    // Fitted: the whole 1280x720 frame shows, with its aspect ratio, inside the window
    // beside the settings panel, and as large as the view allows on one side.
    assert!(
        image.min.x >= 0.0 && image.min.y >= 0.0,
        "image at {image:?}"
    );
    assert!(
        image.max.x <= window_w + 0.5 && image.max.y <= window_h + 0.5,
        "image {image:?} is cropped by the {window_w}x{window_h} window"
    );
    assert!(image.width() < 1280.0 && image.width() > 600.0, "{image:?}");
    assert!(
        (image.width() / image.height() - 16.0 / 9.0).abs() < 0.02,
        "{image:?}"
    );
    let zoom = harness.get_by_role_and_label(Role::Slider, "zoom");
    let z = zoom.accesskit_node().numeric_value().unwrap();
    assert!(z < 1.0, "opened at zoom {z}, not fitted");
    // Plain names: the view list shows what a viewer calls the layout.
    assert!(
        harness
            .query_by_label_contains("Anaglyph (red/cyan glasses)")
            .is_some()
            || harness
                .query_all_by_value("Anaglyph (red/cyan glasses)")
                .next()
                .is_some(),
        "the view list does not read in plain words"
    );
    assert!(harness.query_by_label_contains("Sbs").is_none());
    assert!(harness.query_by_label_contains("HalfSbs").is_none());

    // The depth panel offers the catalog's models by name, with their licences.
    harness.get_by_label("ONNX model").click();
    harness.step();
    harness.get_by_label_contains("catalog model").click();
    harness.step();
    harness.step();
    let item = harness
        .query_all_by_label_contains("depth-anything-v2-base")
        .find(|n| {
            n.accesskit_node()
                .label()
                .is_some_and(|l| !l.contains("fp16"))
        })
        .expect("the catalog's models are listed");
    assert!(
        item.accesskit_node()
            .label()
            .is_some_and(|l| l.contains("CC-BY-NC-4.0")),
        "the catalog item names its licence"
    );
    item.click();
    harness.step();
    harness.step();
    assert!(
        harness
            .query_all_by_value("depth-anything-v2-base")
            .next()
            .is_some(),
        "choosing a catalog model puts its name in the model field"
    );
}

#[test]
fn each_depth_kind_keeps_its_own_screen_plane() {
    // Relative depth's nearness never becomes disparity depth's pixels, or back.
    let mut harness = Harness::new_ui_state(
        |ui, state: &mut (Preset, View)| {
            controls(ui, &mut state.0, &mut state.1, &Live::default());
        },
        (Preset::default(), View::Layout(Layout::Anaglyph)),
    );
    harness.run();
    harness
        .get_by_role_and_label(
            Role::Slider,
            "convergence (nearness at the screen: 0 far .. 1 near)",
        )
        .set_value_accesskit(0.25);
    harness.run();
    harness.get_by_label("disparity").click();
    harness.run();
    let px =
        harness.get_by_role_and_label(Role::Slider, "convergence (px of disparity at the screen)");
    assert_eq!(px.accesskit_node().numeric_value(), Some(0.0));
    px.set_value_accesskit(3.0);
    harness.run();
    assert_eq!(harness.state().0.convergence_px, 3.0);
    harness.get_by_label("relative").click();
    harness.run();
    assert_eq!(harness.state().0.convergence, 0.25);
    assert_eq!(harness.state().0.depth_kind, DepthKind::Relative);
}

/// The 3D view in the whole window, driven as a user would: a drag orbits the camera
/// (the flags that render it change), R resets it, and stepping the timeline redraws the
/// next frame from the same camera.
#[test]
fn the_3d_view_orbits_resets_and_follows_the_timeline() {
    use stereosplat::preview::app::PreviewApp;

    let dir = common::work_dir("preview_orbit_kittest");
    stereosplat::media::synth::write_sample(&dir, (320, 180), 6, 24).unwrap();
    let job = stereosplat::render::RenderJob {
        input: dir.join("sample.mp4"),
        layout: Layout::Novel,
        ..Default::default()
    };
    let (mut harness, image) = open_window(job, [1280.0, 900.0]);
    let flags = |h: &Harness<'_, PreviewApp>| -> String {
        h.query_all(
            kittest::by().predicate(|n| n.value().is_some_and(|v| v.starts_with("--layout novel"))),
        )
        .next()
        .and_then(|n| n.accesskit_node().value())
        .expect("the field with the flags that render this camera")
    };
    let home =
        "--layout novel --camera-offset 0.0000,0.0000,0.0000 --camera-rotate 0.0000,0.0000,0.0000";
    assert_eq!(flags(&harness), home);
    // The picture as the window draws it.
    let picture = |h: &mut Harness<'_, PreviewApp>| {
        let shot = h.render().expect("the window renders");
        let (x0, y0) = (image.min.x as usize + 4, image.min.y as usize + 4);
        let (w, ht) = (image.width() as usize - 8, image.height() as usize - 8);
        let stride = shot.width() as usize * 4;
        (y0..y0 + ht)
            .flat_map(|y| shot.as_raw()[y * stride + x0 * 4..][..w * 4].to_vec())
            .collect::<Vec<u8>>()
    };
    let before = picture(&mut harness);

    // Drag right across the picture: the camera orbits to the right.
    let c = image.center();
    harness.hover_at(c);
    harness.step();
    harness.drag_at(c);
    harness.step();
    for dx in [20.0, 40.0, 60.0] {
        harness.hover_at(c + egui::vec2(dx, 0.0));
        harness.step();
    }
    harness.drop_at(c + egui::vec2(60.0, 0.0));
    harness.run_steps(4);
    let moved = flags(&harness);
    assert_ne!(moved, home, "the drag moved the camera");
    let offset_x: f32 = moved
        .split("--camera-offset ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        offset_x > 0.0,
        "orbiting right moves the camera right: {moved}"
    );
    let orbited = picture(&mut harness);
    assert_ne!(before, orbited, "the picture follows the camera");

    // R returns to the source camera.
    harness.key_press(egui::Key::R);
    harness.run_steps(4);
    assert_eq!(flags(&harness), home);

    // Stepping the timeline draws the next frame (the blue sphere moves) from the camera.
    harness.hover_at(c);
    harness.drag_at(c);
    harness.step();
    harness.hover_at(c + egui::vec2(0.0, 40.0));
    harness.step();
    harness.drop_at(c + egui::vec2(0.0, 40.0));
    harness.run_steps(4);
    let camera = flags(&harness);
    let frame0 = picture(&mut harness);
    harness.get_by_label("Step >").click();
    harness.run_steps(6);
    let frame_value = harness
        .get_by_role_and_label(Role::Slider, "frame")
        .accesskit_node()
        .numeric_value()
        .unwrap();
    assert_eq!(frame_value, 1.0);
    assert_eq!(
        flags(&harness),
        camera,
        "the camera stays as the clip moves on"
    );
    let frame1 = picture(&mut harness);
    assert_ne!(frame0, frame1, "the 3D view shows the new frame");
}

/// An HDR source is shown tone-mapped, and the window says so: a PQ grey of half code
/// value (about 94 nits) shows as the SDR grey of 94 nits, not as code value 128.
#[test]
fn the_window_shows_an_hdr_source_tone_mapped_and_says_so() {
    let dir = common::work_dir("preview_hdr");
    let clip = dir.join("pq.mp4");
    stereosplat::media::init().unwrap();
    stereosplat::media::synth::run_launch(&format!(
        "videotestsrc num-buffers=3 pattern=solid-color foreground-color=0xff808080 ! video/x-raw,format=I420_10LE,width=160,height=90,framerate=24/1,colorimetry=bt2100-pq ! x265enc ! h265parse ! mp4mux ! filesink location={}",
        clip.display()
    ))
    .unwrap();
    let job = stereosplat::render::RenderJob {
        input: clip,
        layout: Layout::Left,
        ..Default::default()
    };
    let (mut harness, image) = open_window(job, [1280.0, 900.0]);
    assert!(
        harness
            .query_by_label_contains("HDR source (PQ BT.2020) shown tone-mapped to SDR")
            .is_some(),
        "the status line says the HDR source is tone-mapped"
    );
    let shot = harness.render().unwrap();
    let c = image.center();
    let px = shot.get_pixel(c.x as u32, c.y as u32).0;
    // 94 nits is 0.46 of reference white: (0.46)^(1 / 2.4) of 255 is about 185.
    assert!(px[..3].iter().all(|&v| (170..=200).contains(&v)), "{px:?}");
}

/// The whole preview window for `job` in a harness of `size` points, drawn by egui-wgpu
/// on a device of its own, stepped until the clip's first frame shows (a few frames more,
/// so what was fitted last frame has settled); with the picture's rectangle.
fn open_window(
    job: stereosplat::render::RenderJob,
    size: [f32; 2],
) -> (
    Harness<'static, stereosplat::preview::app::PreviewApp>,
    egui::Rect,
) {
    use stereosplat::gpu::{AdapterChoice, GpuContext};
    let ctx = std::sync::Arc::new(GpuContext::new(&AdapterChoice::Auto).unwrap());
    let setup = egui_wgpu::WgpuSetup::Existing(egui_wgpu::WgpuSetupExisting {
        instance: ctx.instance.clone(),
        adapter: ctx.adapter.clone(),
        device: ctx.device.clone(),
        queue: ctx.queue.clone(),
    });
    let mut harness = Harness::builder()
        .with_size(size)
        .renderer(egui_kittest::wgpu::WgpuTestRenderer::from_setup(setup))
        .build_eframe(move |cc| {
            stereosplat::preview::app::PreviewApp::new(
                cc,
                ctx,
                job,
                stereosplat::preview::Options {
                    play: false,
                    exit_after_frames: None,
                    measure_latency: None,
                    preset_path: None,
                },
                std::sync::Arc::new(std::sync::Mutex::new(None)),
            )
            .unwrap()
        });
    // The clip opens on a worker thread.
    let t = Instant::now();
    loop {
        harness.step();
        if harness.query_by_role(Role::Image).is_some() {
            harness.run_steps(3);
            let image = harness.get_by_role(Role::Image).rect();
            return (harness, image);
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no frame shown");
        std::thread::sleep(Duration::from_millis(20));
    }
}
