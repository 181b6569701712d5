//! End to end on generated media: the ray-cast sample (H.264 + AAC, 16-bit FFV1 depth),
//! rendered in every layout, decoded back and checked for frame count, size, timestamps,
//! audio and container stereo metadata; stills; ranges; depth at another size or rate.

mod common;

use std::path::{Path, PathBuf};

use stereosplat::control::Cancel;
use stereosplat::layout::{Layout, WarpResolution};
use stereosplat::media::decode::{ColourConvert, DecodeOptions, Decoder, PixelFormat};
use stereosplat::media::stereo_tags::find_stereo_mode;
use stereosplat::progress::Silent;
use stereosplat::render::{RenderJob, WarpDevice, render};
use stereosplat::trace::{STAGES, Stage};

const W: u32 = 96;
const H: u32 = 54;
const FRAMES: u64 = 12;

fn sample(dir: &Path) -> PathBuf {
    stereosplat::media::synth::write_sample(dir, (W, H), FRAMES, 24).expect("sample media");
    dir.join("sample.mp4")
}

struct Decoded {
    frames: Vec<(u64, Vec<u8>)>,
    size: (u32, u32),
    audio: bool,
}

fn decode_all(path: &Path) -> Decoded {
    let mut dec = Decoder::open(
        path,
        PixelFormat::Rgba,
        &DecodeOptions {
            with_audio: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
    let size = (dec.info().width, dec.info().height);
    let mut frames = Vec::new();
    while let Some(f) = dec.next_frame().unwrap() {
        let row = f.width() as usize * 4;
        let tight: Vec<u8> = f
            .data()
            .chunks(f.stride_bytes() as usize)
            .take(f.height() as usize)
            .flat_map(|r| r[..row].to_vec())
            .collect();
        frames.push((f.pts_nanos, tight));
    }
    let audio = dec.audio_caps().is_some();
    Decoded {
        frames,
        size,
        audio,
    }
}

/// A render through the GPU warp (which `--warp-device auto` would replace with the CPU
/// warp on lavapipe): these tests cover the GPU pipeline end to end; the CPU warp's own
/// are at the end and in tests/cpu_warp.rs.
fn job(input: &Path, output: PathBuf, layout: Layout) -> RenderJob {
    RenderJob {
        input: input.into(),
        output,
        layout,
        encode: stereosplat::media::encode::EncodeSettings {
            speed_preset: "ultrafast".into(),
            ..Default::default()
        },
        warp_device: WarpDevice::Gpu,
        ..Default::default()
    }
}

#[test]
fn every_layout_renders_a_complete_file() {
    let dir = common::work_dir("e2e_layouts");
    let input = sample(&dir);
    let cases = [
        (Layout::Sbs, (2 * W, H), Some(1u8)),
        (Layout::HalfSbs, (W, H), Some(1)),
        (Layout::Tb, (W, 2 * H), Some(3)),
        (Layout::HalfTb, (W, H), Some(3)),
        (Layout::Anaglyph, (W, H), Some(10)),
        (Layout::Cross, (2 * W, H), Some(11)),
        (Layout::HalfCross, (W, H), Some(11)),
        (Layout::Left, (W, H), None),
        (Layout::Right, (W, H), None),
        (Layout::Grid, (2 * W, 2 * H), None),
    ];
    for (layout, size, stereo_mode) in cases {
        let out = dir.join(format!("{layout:?}.mkv"));
        let report = render(
            common::gpu(),
            &job(&input, out.clone(), layout),
            &mut Silent,
            &Cancel::default(),
        )
        .unwrap_or_else(|e| panic!("{layout:?}: {e:#}"));
        assert_eq!(report.frames, FRAMES, "{layout:?}");
        let d = decode_all(&out);
        assert_eq!(d.size, size, "{layout:?} size");
        assert_eq!(d.frames.len() as u64, FRAMES, "{layout:?} frame count");
        assert!(d.audio, "{layout:?} lost the audio");
        assert!(
            d.frames.windows(2).all(|p| p[0].0 < p[1].0),
            "{layout:?} pts not increasing"
        );
        assert_eq!(d.frames[0].0, 0, "{layout:?} first pts");
        let bytes = std::fs::read(&out).unwrap();
        let mode = find_stereo_mode(&bytes[..bytes.len().min(64 * 1024)]).map(|i| bytes[i]);
        assert_eq!(mode, stereo_mode, "{layout:?} Matroska StereoMode");
        // Frames are not blank: the scene has strong texture everywhere.
        let (_, px) = &d.frames[FRAMES as usize / 2];
        let mean = px.iter().map(|&v| v as f64).sum::<f64>() / px.len() as f64;
        assert!(mean > 40.0, "{layout:?} frame looks blank (mean {mean})");
    }
}

/// The caps the demuxer (qtdemux for MP4 and MOV, matroskademux for MKV) gives the
/// video track, as text.
fn demuxed_video_caps(path: &Path) -> String {
    use gstreamer as gst;
    use gstreamer::prelude::*;
    gst::init().unwrap();
    let demux = if path.extension().is_some_and(|e| e == "mkv") {
        "matroskademux"
    } else {
        "qtdemux"
    };
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! {demux} name=d d.video_0 ! fakesink name=s",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    pipeline.set_state(gst::State::Paused).unwrap();
    let (done, _, _) = pipeline.state(gst::ClockTime::from_seconds(10));
    done.expect("the file prerolls");
    let sink = pipeline.by_name("s").unwrap();
    let caps = sink.static_pad("sink").unwrap().current_caps().unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    caps.to_string()
}

#[test]
fn side_by_side_mp4_and_mov_say_the_left_view_is_on_the_left() {
    // GStreamer's mp4mux and qtmux write the svmi box's is_left_first bit inverted;
    // unmended, qtdemux reports the right view first and a player swaps the eyes.
    let dir = common::work_dir("e2e_svmi");
    let input = sample(&dir);
    for layout in [Layout::Sbs, Layout::HalfSbs] {
        for ext in ["mp4", "mov"] {
            let out = dir.join(format!("{layout:?}.{ext}"));
            render(
                common::gpu(),
                &job(&input, out.clone(), layout),
                &mut Silent,
                &Cancel::default(),
            )
            .unwrap();
            let caps = demuxed_video_caps(&out);
            assert!(
                caps.contains("multiview-mode=(string)side-by-side"),
                "{layout:?} .{ext}: {caps}"
            );
            assert!(
                caps.contains("/right-view-first") && !caps.contains("+right-view-first"),
                "{layout:?} .{ext} reads as right view first: {caps}"
            );
        }
    }
}

#[test]
fn ten_bit_h265_side_by_side_mp4_reads_back_as_side_by_side() {
    // x265 has no frame-packing option: the SEI is added to every key frame by a probe
    // (src/hevc_sei.rs), and mp4mux/qtmux get the svmi box from the caps.
    let dir = common::work_dir("e2e_h265_stereo");
    let input = sample(&dir);
    for (layout, mode) in [
        (Layout::Sbs, "side-by-side"),
        (Layout::HalfSbs, "side-by-side"),
        (Layout::Tb, "top-bottom"),
    ] {
        for ext in ["mp4", "mov", "mkv"] {
            let out = dir.join(format!("{layout:?}.{ext}"));
            let mut j = job(&input, out.clone(), layout);
            j.encode.bit_depth = 10;
            j.warp_device = WarpDevice::Auto;
            render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap();
            let caps = demuxed_video_caps(&out);
            assert!(caps.starts_with("video/x-h265"), "{caps}");
            // GStreamer 1.22's mp4mux and qtmux write their svmi box for side by side
            // only (as for H.264); Matroska's StereoMode has both.
            if mode == "side-by-side" || ext == "mkv" {
                assert!(
                    caps.contains(&format!("multiview-mode=(string){mode}")),
                    "{layout:?} .{ext}: {caps}"
                );
            }
            assert!(
                !caps.contains("+right-view-first"),
                "{layout:?} .{ext} reads as right view first: {caps}"
            );
            // The frame-packing SEI itself, in the stream: prefix SEI (type 39),
            // payload 45, type 3 (side by side) or 4 (top-bottom), left view first.
            let bytes = std::fs::read(&out).unwrap();
            let kind = if mode == "side-by-side" { 0x81 } else { 0x82 };
            let sei = [0x4e, 0x01, 45, 6, kind];
            assert!(
                bytes.windows(sei.len()).any(|w| w == sei),
                "{layout:?} .{ext}: no frame-packing SEI"
            );
        }
    }
}

#[test]
fn mp4_keeps_timestamps_of_the_source_and_the_audio() {
    let dir = common::work_dir("e2e_mp4");
    let input = sample(&dir);
    let out = dir.join("out.mp4");
    render(
        common::gpu(),
        &job(&input, out.clone(), Layout::HalfSbs),
        &mut Silent,
        &Cancel::default(),
    )
    .unwrap();
    let src = decode_all(&input);
    let d = decode_all(&out);
    assert!(d.audio);
    assert_eq!(d.frames.len(), src.frames.len());
    for (o, s) in d.frames.iter().zip(&src.frames) {
        // mp4 stores times in its own timescale: equal to within a microsecond.
        assert!(
            o.0.abs_diff(s.0) <= 1_000,
            "output pts {} vs source {}",
            o.0,
            s.0
        );
    }
    // No temporary file left beside the output.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn left_eye_layout_is_the_input_frame_exactly() {
    let dir = common::work_dir("e2e_left");
    let input = sample(&dir);
    let out = dir.join("left.png");
    // decode_all converts with GStreamer; so must the render, on any adapter.
    let mut left = job(&input, out.clone(), Layout::Left);
    left.colour_convert = ColourConvert::Cpu;
    render(common::gpu(), &left, &mut Silent, &Cancel::default()).unwrap();
    let src = decode_all(&input);
    let got = decode_all(&out);
    assert_eq!(got.frames.len(), 1);
    assert_eq!(
        got.frames[0].1, src.frames[0].1,
        "left eye must be the source frame, bit for bit"
    );
    // And the synthesised right eye differs from it (there is parallax).
    let out = dir.join("right.png");
    render(
        common::gpu(),
        &job(&input, out.clone(), Layout::Right),
        &mut Silent,
        &Cancel::default(),
    )
    .unwrap();
    let right = decode_all(&out);
    let diff = right.frames[0]
        .1
        .iter()
        .zip(&src.frames[0].1)
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        diff > (W * H) as usize / 10,
        "the right eye barely differs ({diff} bytes)"
    );
}

#[test]
fn still_image_with_16_bit_png_depth() {
    let dir = common::work_dir("e2e_still");
    let cam = stereosplat::media::synth::Camera::with_fov(W, H, 60.0);
    let (rgba, z) = stereosplat::media::synth::Scene { time: 0.0 }.render(&cam);
    let caps = |fmt: &str| {
        gstreamer::Caps::builder("video/x-raw")
            .field("format", fmt)
            .field("width", W as i32)
            .field("height", H as i32)
            .field("framerate", gstreamer::Fraction::new(0, 1))
            .build()
    };
    let png = dir.join("photo.png");
    let depth = dir.join("photo_depth.png");
    stereosplat::media::synth::write_frames(
        &caps("RGBA"),
        &format!("pngenc ! filesink location=\"{}\"", png.display()),
        std::iter::once(rgba.clone()),
        1,
    )
    .unwrap();
    let depth16: Vec<u8> = stereosplat::media::synth::nearness16(&z)
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    stereosplat::media::synth::write_frames(
        &caps("GRAY16_BE"),
        &format!("pngenc ! filesink location=\"{}\"", depth.display()),
        std::iter::once(depth16),
        1,
    )
    .unwrap();
    let out = dir.join("photo_sbs.png");
    // The depth is found beside the input by name (photo_depth.png).
    render(
        common::gpu(),
        &job(&png, out.clone(), Layout::Sbs),
        &mut Silent,
        &Cancel::default(),
    )
    .unwrap();
    let d = decode_all(&out);
    assert_eq!(d.size, (2 * W, H));
    let row = 2 * W as usize * 4;
    for y in 0..H as usize {
        let left = &d.frames[0].1[y * row..y * row + W as usize * 4];
        assert_eq!(
            left,
            &rgba[y * W as usize * 4..(y + 1) * W as usize * 4],
            "row {y} of the left half"
        );
    }
}

#[test]
fn frames_and_start_select_a_range() {
    let dir = common::work_dir("e2e_range");
    let input = sample(&dir);
    let out = dir.join("part.mkv");
    let mut j = job(&input, out.clone(), Layout::HalfSbs);
    j.frames = Some(5);
    j.start_secs = 0.25; // frame 6 at 24 fps
    let report = render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap();
    assert_eq!(report.frames, 5);
    let d = decode_all(&out);
    assert_eq!(d.frames.len(), 5);
    assert_eq!(d.frames[0].0, 0, "the range starts at 0 in the output");
    // The first output frame's left half is source frame 6.
    let src = decode_all(&input);
    let row_out = W as usize * 4;
    let (_, first) = &d.frames[0];
    let (_, want) = &src.frames[6];
    let err: f64 = (0..H as usize)
        .flat_map(|y| (0..W as usize / 2).map(move |x| (y, x)))
        .map(|(y, x)| {
            let o = first[y * row_out + x * 4] as f64;
            let s = (want[y * row_out + 8 * x] as f64 + want[y * row_out + 8 * x + 4] as f64) / 2.0;
            (o - s).abs()
        })
        .sum::<f64>()
        / f64::from(W * H / 2);
    assert!(
        err < 12.0,
        "the range does not start at frame 6 (mean error {err})"
    );
}

#[test]
fn depth_at_another_size_and_rate_is_matched() {
    let dir = common::work_dir("e2e_depth_mismatch");
    let input = sample(&dir);
    // Smaller depth (same aspect) at half the frame rate, same duration.
    let small = common::work_dir("e2e_depth_mismatch_small");
    stereosplat::media::synth::write_sample(&small, (64, 36), FRAMES / 2, 12).unwrap();
    let out = dir.join("out.mkv");
    let mut j = job(&input, out.clone(), Layout::Sbs);
    j.depth = Some(small.join("sample_depth.mkv"));
    let report = render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap();
    assert_eq!(report.frames, FRAMES, "one output frame per input frame");
    assert_eq!(decode_all(&out).size, (2 * W, H));
}

#[test]
fn metric_depth_video_renders_with_camera_geometry() {
    use gstreamer_video as gst_video;
    let dir = common::work_dir("e2e_metric");
    let input = sample(&dir);
    // The same scene's depth in metres, 16-bit with 20 m full scale, as a lossless video.
    let cam = stereosplat::media::synth::Camera::with_fov(W, H, 60.0);
    let caps = gst_video::VideoInfo::builder(gst_video::VideoFormat::Gray16Le, W, H)
        .fps(gstreamer::Fraction::new(24, 1))
        .build()
        .unwrap()
        .to_caps()
        .unwrap();
    let metric = dir.join("metric_depth.mkv");
    stereosplat::media::synth::write_frames(
        &caps,
        &format!(
            "avenc_ffv1 ! matroskamux ! filesink location=\"{}\"",
            metric.display()
        ),
        (0..FRAMES).map(|i| {
            let (_, z) = stereosplat::media::synth::Scene {
                time: i as f32 / 24.0,
            }
            .render(&cam);
            z.iter()
                .flat_map(|z| {
                    ((z / 20.0 * 65535.0).round().clamp(1.0, 65535.0) as u16).to_le_bytes()
                })
                .collect()
        }),
        24,
    )
    .unwrap();
    let out = dir.join("metric.mkv");
    let mut j = job(&input, out.clone(), Layout::Sbs);
    j.depth = Some(metric);
    j.depth_kind = stereosplat::stereo::DepthKind::Metric;
    j.xfov_deg = Some(60.0);
    let report = render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap();
    assert_eq!(report.frames, FRAMES);
    let d = decode_all(&out);
    assert_eq!(d.size, (2 * W, H));
    // The right half differs from the left (parallax), the left half is the source.
    let (_, f) = &d.frames[0];
    let row = 2 * W as usize * 4;
    let diff: usize = (0..H as usize)
        .map(|y| {
            let l = &f[y * row..y * row + W as usize * 4];
            let r = &f[y * row + W as usize * 4..(y + 1) * row];
            l.iter()
                .zip(r)
                .filter(|(a, b)| a.abs_diff(**b) > 24)
                .count()
        })
        .sum();
    assert!(diff > (W * H) as usize / 20, "no visible parallax ({diff})");
}

#[test]
fn mask_out_marks_exactly_the_holes_in_the_toolbox_colours() {
    let dir = common::work_dir("e2e_mask");
    let input = sample(&dir);
    let mut j = job(&input, dir.join("sbs.png"), Layout::Sbs);
    j.mask_out = Some(dir.join("mask.png"));
    render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap();
    let grid = job(&input, dir.join("grid.png"), Layout::Grid);
    render(common::gpu(), &grid, &mut Silent, &Cancel::default()).unwrap();
    let mask = decode_all(&dir.join("mask.png"));
    let grid = decode_all(&dir.join("grid.png"));
    assert_eq!(mask.size, (2 * W, H), "the mask has the output's layout");
    let (m, g) = (&mask.frames[0].1, &grid.frames[0].1);
    let (mut red, mut green, mut blue, mut holes) = (0, 0, 0, 0);
    for y in 0..H as usize {
        for x in 0..2 * W as usize {
            let p = &m[(y * 2 * W as usize + x) * 4..][..3];
            if x < W as usize {
                assert_eq!(
                    p,
                    [0, 0, 0],
                    "the input (left) eye needs no infill at ({x},{y})"
                );
                continue;
            }
            // The grid's bottom-left quadrant is the hole mask of the same view (white = hole).
            let hole = g[((H as usize + y) * 2 * W as usize + (x - W as usize)) * 4] > 127;
            let marked = p != [0, 0, 0];
            assert_eq!(marked, hole, "mask and hole disagree at ({x},{y}): {p:?}");
            match p {
                [255, 0, 0] => red += 1,
                [0, 255, 0] => green += 1,
                [0, 0, 255] => blue += 1,
                [0, 0, 0] => {}
                other => panic!("unexpected mask colour {other:?}"),
            }
            holes += usize::from(hole);
        }
    }
    assert!(
        holes > 0 && red > 0 && green > 0 && blue > 0,
        "r {red} g {green} b {blue} of {holes}"
    );
}

#[test]
fn mask_video_has_one_frame_per_output_frame() {
    let dir = common::work_dir("e2e_mask_video");
    let input = sample(&dir);
    let mut j = job(&input, dir.join("out.mkv"), Layout::HalfSbs);
    j.mask_out = Some(dir.join("out_infillmask.mkv"));
    render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap();
    let mask = decode_all(&dir.join("out_infillmask.mkv"));
    assert_eq!(mask.frames.len() as u64, FRAMES);
    assert_eq!(mask.size, (W, H));
    assert!(!mask.audio, "the mask carries no audio");
}

/// Writes the scene's metric depth, either 16-bit grey (20 m full scale) or in the metric
/// depth toolbox's RGB encoding (max_depth 20 m), as a lossless FFV1 video.
fn metric_depth_video(path: &Path, rgb: bool) {
    use gstreamer_video as gst_video;
    let cam = stereosplat::media::synth::Camera::with_fov(W, H, 60.0);
    let format = if rgb {
        gst_video::VideoFormat::Rgba
    } else {
        gst_video::VideoFormat::Gray16Le
    };
    let caps = gst_video::VideoInfo::builder(format, W, H)
        .fps(gstreamer::Fraction::new(24, 1))
        .build()
        .unwrap()
        .to_caps()
        .unwrap();
    stereosplat::media::synth::write_frames(
        &caps,
        &format!(
            // Lossless: BGRA for RGB (videoconvert would otherwise pick I420).
            "videoconvert ! video/x-raw,format={} ! avenc_ffv1 ! matroskamux ! filesink location=\"{}\"",
            if rgb { "BGRA" } else { "GRAY16_LE" },
            path.display()
        ),
        (0..FRAMES).map(|i| {
            let (_, z) = stereosplat::media::synth::Scene { time: i as f32 / 24.0 }.render(&cam);
            z.iter()
                .flat_map(|z| {
                    if rgb {
                        let [r, g, b] = stereosplat::depth::codec::rgb_from_metric(f64::from(*z), 20.0);
                        vec![r, g, b, 255]
                    } else {
                        ((z / 20.0 * 65535.0).round().clamp(1.0, 65535.0) as u16).to_le_bytes().to_vec()
                    }
                })
                .collect()
        }),
        24,
    )
    .unwrap();
}

#[test]
fn toolbox_rgb_depth_renders_like_grey_metric_depth() {
    let dir = common::work_dir("e2e_rgb_depth");
    let input = sample(&dir);
    let mut right_eyes = Vec::new();
    for rgb in [false, true] {
        let depth = dir.join(if rgb {
            "rgb_depth.mkv"
        } else {
            "grey_depth.mkv"
        });
        metric_depth_video(&depth, rgb);
        let out = dir.join(if rgb { "rgb.png" } else { "grey.png" });
        let mut j = job(&input, out.clone(), Layout::Right);
        j.depth = Some(depth);
        j.depth_kind = stereosplat::stereo::DepthKind::Metric;
        j.depth_rgb = rgb;
        j.max_depth_m = 20.0;
        j.xfov_deg = Some(60.0);
        j.stereo.camera.ipd_m = 0.1;
        render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap();
        right_eyes.push(decode_all(&out).frames.remove(0).1);
    }
    let src = decode_all(&input).frames.remove(0).1;
    let mean_diff = |a: &[u8], b: &[u8]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(x.abs_diff(*y)))
            .sum::<f64>()
            / a.len() as f64
    };
    let same = mean_diff(&right_eyes[0], &right_eyes[1]);
    let parallax = mean_diff(&right_eyes[0], &src);
    assert!(
        same < 0.5,
        "RGB-encoded and grey metric depth should render alike (mean diff {same})"
    );
    assert!(
        parallax > 5.0,
        "the right eye should differ from the input ({parallax})"
    );
}

#[test]
fn per_frame_convergence_moves_the_screen_plane() {
    let dir = common::work_dir("e2e_convergence");
    let input = sample(&dir);
    let depth = dir.join("metric_depth.mkv");
    metric_depth_video(&depth, false);
    let file = dir.join("convergence.txt");
    std::fs::write(&file, "1.5\n50\n").unwrap();
    let mut frames = Vec::new();
    for per_frame in [false, true] {
        let out = dir.join(format!("conv_{per_frame}.mkv"));
        let mut j = job(&input, out.clone(), Layout::Right);
        j.depth = Some(depth.clone());
        j.depth_kind = stereosplat::stereo::DepthKind::Metric;
        j.xfov_deg = Some(60.0);
        j.stereo.camera.ipd_m = 0.2;
        j.frames = Some(2);
        j.encode.crf = 0;
        if per_frame {
            j.convergence_file = Some(file.clone());
        } else {
            j.stereo.camera.convergence_m = Some(1.5);
        }
        render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap();
        frames.push(decode_all(&out).frames);
    }
    let diff = |a: &[u8], b: &[u8]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(x.abs_diff(*y)))
            .sum::<f64>()
            / a.len() as f64
    };
    assert!(
        diff(&frames[0][0].1, &frames[1][0].1) < 1.0,
        "frame 0 converges at 1.5 m in both"
    );
    assert!(
        diff(&frames[0][1].1, &frames[1][1].1) > 3.0,
        "frame 1 converges at 50 m from the file"
    );
}

/// The events of a Chrome trace file.
fn trace_events(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("trace written");
    let json: serde_json::Value = serde_json::from_str(&text).expect("trace is JSON");
    json["traceEvents"].as_array().expect("traceEvents").clone()
}

/// Spans (complete events) named `name`.
fn span_count(events: &[serde_json::Value], name: &str) -> u64 {
    events
        .iter()
        .filter(|e| e["ph"] == "X" && e["name"] == name)
        .count() as u64
}

#[test]
fn trace_has_cpu_by_stage_and_one_span_per_loop_stage_and_frame() {
    let dir = common::work_dir("e2e_trace");
    let input = sample(&dir);
    let trace = dir.join("trace.json");
    let mut j = job(&input, dir.join("out.mkv"), Layout::HalfSbs);
    j.trace = Some(trace.clone());
    let report = render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap();
    let events = trace_events(&trace);
    let spans = |name: &str| span_count(&events, name);
    for name in [
        "wait for a decoded frame",
        "depth frame",
        "upload + GPU submit",
        "wait for the GPU",
        "hand to the encoder",
    ] {
        assert_eq!(spans(name), FRAMES, "{name} spans");
    }
    let counters: Vec<_> = events.iter().filter(|e| e["ph"] == "C").collect();
    assert!(!counters.is_empty(), "no CPU samples");
    for stage in ["GPU driver", "decode", "encode", "render loop", "other"] {
        assert!(counters[0]["args"][stage].is_number(), "{stage} missing");
    }
    // The CPU the render used was measured, and none of it is negative.
    assert!(report.cpu.total.iter().all(|&s| s >= 0.0));
    assert!(
        report.cpu.total.iter().sum::<f64>() > 0.0,
        "{:?}",
        report.cpu
    );
    assert!(report.cpu.per_frame(report.frames).contains("GPU driver"));
}

/// `source` as lossless raw video in Matroska with `caps` (format, size, colorimetry).
fn lossless_clip(dir: &Path, name: &str, source: &str, caps: &str) -> PathBuf {
    let path = dir.join(name);
    stereosplat::media::synth::run_launch(&format!(
        "{source} ! video/x-raw,framerate=24/1,{caps} ! matroskamux ! filesink location=\"{}\"",
        path.display()
    ))
    .unwrap();
    path
}

/// The first frame of `input` rendered as the left eye (the input view) to `out`, RGBA.
fn left_eye(input: &Path, out: &Path, device: WarpDevice, convert: ColourConvert) -> Vec<u8> {
    let mut j = job(input, out.into(), Layout::Left);
    (j.warp_device, j.colour_convert) = (device, convert);
    render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap();
    decode_all(out).frames.remove(0).1
}

#[test]
fn decoded_yuv_becomes_the_exact_colours_on_the_gpu() {
    // Lossless I420 (raw video in Matroska): SMPTE bars, BT.601 limited range.
    let dir = common::work_dir("e2e_colour_convert");
    let input = lossless_clip(
        &dir,
        "bars.mkv",
        "videotestsrc num-buffers=2 pattern=smpte",
        "format=I420,width=320,height=180,colorimetry=bt601",
    );
    let render_with = |convert: ColourConvert, name: &str| {
        left_eye(&input, &dir.join(name), WarpDevice::Gpu, convert)
    };
    let bars = [
        [255, 255, 255],
        [255, 255, 0],
        [0, 255, 255],
        [0, 255, 0],
        [255, 0, 255],
        [255, 0, 0],
        [0, 0, 255],
    ];
    let at = |px: &[u8], bar: usize| -> [u8; 3] {
        let x = bar * 320 / 7 + 20;
        let i = (20 * 320 + x) * 4;
        [px[i], px[i + 1], px[i + 2]]
    };
    let gpu = render_with(ColourConvert::Gpu, "gpu.png");
    let cpu = render_with(ColourConvert::Cpu, "cpu.png");
    for (bar, want) in bars.iter().enumerate() {
        let (g, c) = (at(&gpu, bar), at(&cpu, bar));
        for ch in 0..3 {
            // The shader's maths is exact to rounding; GStreamer's fast integer path
            // lands a few steps short of full scale.
            assert!(
                g[ch].abs_diff(want[ch]) <= 1,
                "bar {bar}: GPU {g:?} vs {want:?}"
            );
            assert!(
                c[ch].abs_diff(want[ch]) <= 5,
                "bar {bar}: CPU {c:?} vs {want:?}"
            );
        }
    }
}

#[test]
fn the_cpu_warp_converts_yuv_like_the_shader_not_like_videoconvert() {
    // Lossless I420 with saturated diagonal colour edges, where 4:2:0 chroma upsampled
    // by repetition shows 2x2 stair steps and bilinear upsampling does not; odd sides
    // too, where the last chroma column and row cover one pixel.
    let dir = common::work_dir("e2e_cpu_colour_convert");
    for (w, h) in [(160, 96), (161, 47)] {
        let input = lossless_clip(
            &dir,
            &format!("pinwheel{w}.mkv"),
            "videotestsrc num-buffers=1 pattern=pinwheel foreground-color=0xffff0000 background-color=0xff0000ff",
            &format!("format=I420,width={w},height={h}"),
        );
        let render_with = |device: WarpDevice, convert: ColourConvert, name: &str| {
            left_eye(&input, &dir.join(format!("{w}{name}")), device, convert)
        };
        let shader = render_with(WarpDevice::Gpu, ColourConvert::Gpu, "shader.png");
        let cpu_warp = render_with(WarpDevice::Cpu, ColourConvert::Auto, "cpu_warp.png");
        let videoconvert = render_with(WarpDevice::Cpu, ColourConvert::Cpu, "videoconvert.png");
        // The GPU warp with `auto` (on lavapipe it converts on the CPU before upload).
        let gpu_auto = render_with(WarpDevice::Gpu, ColourConvert::Auto, "gpu_auto.png");
        let worst = |a: &[u8], b: &[u8]| a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max();
        assert_eq!(shader.len(), w * h * 4);
        for (name, got) in [("CPU warp", &cpu_warp), ("GPU warp, auto", &gpu_auto)] {
            assert!(
                worst(got, &shader) <= Some(1),
                "{w}x{h} {name}: the conversion differs from the shader's by {:?}",
                worst(got, &shader)
            );
        }
        // The test can tell the two upsamplings apart.
        assert!(worst(&videoconvert, &shader) > Some(40), "{w}x{h}");
    }
}

#[test]
fn ten_bit_video_reaches_the_warp_with_its_extra_bits() {
    // 10-bit 4:2:0 (FFV1) is read by the warp's conversion (CPU or shader) as decoded,
    // not first squeezed to 8 bits by videoconvert; the picture is the 8-bit version's
    // to rounding.
    let dir = common::work_dir("e2e_10bit");
    let source = "videotestsrc num-buffers=1 pattern=pinwheel foreground-color=0xffff8000 background-color=0xff0040ff";
    let eight = lossless_clip(&dir, "eight.mkv", source, "format=I420,width=160,height=96");
    let ten = dir.join("ten.mkv");
    stereosplat::media::synth::run_launch(&format!(
        "{source} ! video/x-raw,format=I420_10LE,width=160,height=96,framerate=24/1 ! avenc_ffv1 ! matroskamux ! filesink location=\"{}\"",
        ten.display()
    ))
    .unwrap();
    let mut dec = Decoder::open(&ten, PixelFormat::Native, &DecodeOptions::default()).unwrap();
    let frame = dec.next_frame().unwrap().unwrap();
    assert!(
        matches!(
            frame.pixels(),
            stereosplat::frame::FramePixels::I420Ten { .. }
        ),
        "10-bit planes as decoded"
    );
    let a = left_eye(
        &eight,
        &dir.join("eight.png"),
        WarpDevice::Cpu,
        ColourConvert::Auto,
    );
    let b = left_eye(
        &ten,
        &dir.join("ten.png"),
        WarpDevice::Cpu,
        ColourConvert::Auto,
    );
    // The shader reads the same 10-bit planes (the GPU warp with `gpu` conversion).
    let shader = left_eye(
        &ten,
        &dir.join("ten_gpu.png"),
        WarpDevice::Gpu,
        ColourConvert::Gpu,
    );
    let worst_gpu = shader.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).max();
    assert!(
        worst_gpu <= Some(1),
        "shader vs CPU on 10-bit: {worst_gpu:?}"
    );
    // videotestsrc draws the 10-bit version itself, a fraction of a level brighter in
    // places ((v << 2) | (v >> 6)); exactness is a unit test in src/cpu/yuv.rs.
    let diff: Vec<u8> = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).collect();
    let mean = diff.iter().map(|&d| f64::from(d)).sum::<f64>() / diff.len() as f64;
    let worst = diff.iter().max().copied();
    assert!(
        worst <= Some(2) && mean < 0.5,
        "10-bit and 8-bit renders differ by up to {worst:?}, {mean:.3} on average"
    );
}

#[test]
fn full_chroma_input_keeps_its_chroma() {
    // 4:2:2 video is not squeezed through 8-bit 4:2:0 on its way to the warp: videoconvert
    // gives it as RGBA, converted once (as decode_all converts it).
    let dir = common::work_dir("e2e_422");
    let input = lossless_clip(
        &dir,
        "yuy2.mkv",
        "videotestsrc num-buffers=1 pattern=pinwheel foreground-color=0xffff0000 background-color=0xff0000ff",
        "format=YUY2,width=160,height=96",
    );
    let want = decode_all(&input).frames.remove(0).1;
    let got = left_eye(
        &input,
        &dir.join("left.png"),
        WarpDevice::Cpu,
        ColourConvert::Auto,
    );
    assert!(
        got == want,
        "the left eye of 4:2:2 input differs from its RGBA"
    );
}

#[test]
fn frames_too_wide_for_the_gpu_or_x264_fail_with_a_way_out() {
    // Full SBS of an 8200-wide frame is 16400 wide: more than lavapipe's largest texture
    // and x264's largest side (both 16384). The CPU warp has no GPU limit, so the error
    // names x264's, and nothing is left behind; x265 takes the frame.
    let dir = common::work_dir("e2e_wide");
    let input = lossless_clip(
        &dir,
        "wide.mkv",
        "videotestsrc num-buffers=1",
        "format=I420,width=8200,height=64",
    );
    let depth = lossless_clip(
        &dir,
        "wide_depth.mkv",
        "videotestsrc num-buffers=1 pattern=gradient",
        "format=GRAY8,width=8200,height=64",
    );
    let out = dir.join("out.mkv");
    let mut j = job(&input, out.clone(), Layout::Sbs);
    j.depth = Some(depth);
    j.warp_device = WarpDevice::Cpu;
    let err = render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("16400x64") && msg.contains("at most 16384") && msg.contains("half-sbs"),
        "{msg}"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') || n == "out.mkv")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    if common::gpu().device.limits().max_texture_dimension_2d < 16400 {
        j.warp_device = WarpDevice::Gpu;
        let err = render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap_err();
        assert!(format!("{err:#}").contains("--warp-device cpu"), "{err:#}");
    }
    j.warp_device = WarpDevice::Cpu;
    j.encode.encoder = stereosplat::media::encode::VideoEncoder::X265;
    let report = render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap();
    assert_eq!((report.frames, report.size), (1, (16400, 64)));
}

#[test]
fn frames_too_large_for_the_gpu_fall_back_to_the_cpu_only_where_the_job_allows() {
    // On a hardware adapter, `auto` warps on the GPU; frames over its limits then warp on
    // the CPU, unless the user asked for the GPU or the job needs it (lavapipe already
    // warps on the CPU under `auto`, so this decision is what can be checked here).
    let mut j = RenderJob {
        warp_device: WarpDevice::Auto,
        ..Default::default()
    };
    assert!(j.falls_back_to_cpu());
    j.layout = Layout::Grid;
    assert!(
        !j.falls_back_to_cpu(),
        "the grid is composed on the GPU only"
    );
    j.layout = Layout::HalfSbs;
    j.warp_device = WarpDevice::Gpu;
    assert!(!j.falls_back_to_cpu(), "--warp-device gpu is kept");
    j.warp_device = WarpDevice::Cpu;
    assert!(!j.falls_back_to_cpu(), "already on the CPU");
}

#[test]
fn warping_at_the_shown_eye_size_matches_warping_at_full_size() {
    // The default warps half-SBS at 48x54 per eye; `input` warps 96x54 and squeezes.
    // Both must show the same stereo pair up to resampling differences at depth edges.
    let dir = common::work_dir("e2e_warp_resolution");
    let input = sample(&dir);
    let render_at = |resolution: WarpResolution, name: &str| {
        let out = dir.join(name);
        let mut j = job(&input, out.clone(), Layout::HalfSbs);
        j.warp_resolution = resolution;
        j.stereo.max_disparity_px = 8.0;
        render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap();
        decode_all(&out).frames.remove(0).1
    };
    let shown = render_at(WarpResolution::Output, "output.png");
    let full = render_at(WarpResolution::Input, "input.png");
    assert_eq!(shown.len(), full.len());
    let eye_diff = |right: bool| {
        let mut diffs = Vec::new();
        for y in 0..H as usize {
            for x in 0..W as usize / 2 {
                let px = y * W as usize + x + if right { W as usize / 2 } else { 0 };
                for c in 0..3 {
                    diffs.push(shown[px * 4 + c].abs_diff(full[px * 4 + c]));
                }
            }
        }
        let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
        diffs.sort_unstable();
        (mean, diffs[diffs.len() * 9 / 10])
    };
    // The left eye is the input averaged down either way.
    let (left_mean, left_p90) = eye_diff(false);
    assert!(
        left_mean < 1.0 && left_p90 <= 2,
        "left eye: mean {left_mean:.2}, p90 {left_p90}"
    );
    // The right eye: the same picture, with differences where resampling meets depth
    // edges (this 96x54 scene is textured everywhere; measured mean 6.4, p90 19). The
    // exact shift at half size is checked in tests/warp_reference.rs.
    let (right_mean, right_p90) = eye_diff(true);
    assert!(
        right_mean < 10.0 && right_p90 <= 32,
        "right eye: mean {right_mean:.2}, p90 {right_p90}"
    );
    // And the right eye is not just the left one (there is parallax to compare).
    let parallax = (0..shown.len() / 4)
        .filter(|i| i % W as usize >= W as usize / 2)
        .filter(|i| {
            let l = i - W as usize / 2;
            (0..3).any(|c| shown[i * 4 + c].abs_diff(shown[l * 4 + c]) > 8)
        })
        .count();
    assert!(
        parallax > (W * H / 2) as usize / 10,
        "no parallax ({parallax} pixels)"
    );
}

#[test]
fn depth_scans_are_cached_per_file_identity() {
    use stereosplat::depth::DepthScan;
    use stereosplat::depth::estimate::EstimateOptions;
    use stereosplat::depth::scan::ScanNeed;
    let dir = common::work_dir("e2e_scan_cache");
    sample(&dir);
    let depth = dir.join("sample_depth.mkv");
    let cache = EstimateOptions {
        cache_dir: Some(dir.join("cache")),
        ..Default::default()
    };
    let first = DepthScan::run_cached(&depth, false, ScanNeed::All, &cache).unwrap();
    assert_eq!(first, DepthScan::run(&depth, false, ScanNeed::All).unwrap());
    let cached: Vec<_> = std::fs::read_dir(dir.join("cache/scans"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(cached.len(), 1, "one scan cached");
    // The cache is what answers next time: a doctored entry comes back as it is.
    let entry = cached[0].path();
    let mut doctored = first.clone();
    doctored.min = 12345;
    std::fs::write(&entry, serde_json::to_string(&doctored).unwrap()).unwrap();
    assert_eq!(
        DepthScan::run_cached(&depth, false, ScanNeed::All, &cache)
            .unwrap()
            .min,
        12345
    );
    // Another spelling of the same file hits the same entry, and answers with its own path.
    let spelled = dir.join(".").join("sample_depth.mkv");
    let hit = DepthScan::run_cached(&spelled, false, ScanNeed::All, &cache).unwrap();
    assert_eq!((hit.min, hit.path), (12345, spelled));
    // Rewriting the depth file makes it another file: scanned again.
    let bytes = std::fs::read(&depth).unwrap();
    std::fs::remove_file(&depth).unwrap();
    std::fs::write(&depth, bytes).unwrap();
    assert_eq!(
        DepthScan::run_cached(&depth, false, ScanNeed::All, &cache).unwrap(),
        first
    );
    // --no-cache neither reads nor writes it.
    let none = EstimateOptions {
        no_cache: true,
        cache_dir: Some(dir.join("unused")),
        ..Default::default()
    };
    assert_eq!(
        DepthScan::run_cached(&depth, false, ScanNeed::All, &none).unwrap(),
        first
    );
    assert!(!dir.join("unused").exists());
}

fn mean_diff(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn the_cpu_warp_renders_what_the_gpu_renders() {
    let dir = common::work_dir("e2e_cpu_warp");
    let input = sample(&dir);
    for layout in [Layout::HalfSbs, Layout::Anaglyph, Layout::Tb] {
        let mut decoded = Vec::new();
        for device in [WarpDevice::Gpu, WarpDevice::Cpu] {
            let out = dir.join(format!("{layout:?}_{device:?}.mkv"));
            let mut j = job(&input, out.clone(), layout);
            j.warp_device = device;
            // Lossless, so the comparison sees the warps and not two encodes.
            j.encode.crf = 0;
            let report = render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap();
            assert_eq!(report.frames, FRAMES);
            assert!(report.audio, "{device:?}: the audio is carried over");
            decoded.push(decode_all(&out));
        }
        let (gpu, cpu) = (&decoded[0], &decoded[1]);
        assert_eq!(gpu.size, cpu.size, "{layout:?}");
        assert_eq!(gpu.frames.len(), cpu.frames.len(), "{layout:?}");
        assert!(cpu.audio, "{layout:?}: audio track");
        for ((pts_g, g), (pts_c, c)) in gpu.frames.iter().zip(&cpu.frames) {
            assert_eq!(pts_g, pts_c, "{layout:?}: timestamps");
            // Equal to a level before encoding (measured: 0.01-0.03 on average).
            let d = mean_diff(g, c);
            assert!(
                d < 0.1,
                "{layout:?} frame at {pts_g} ns: mean difference {d:.3}"
            );
        }
        // A check that can fail: the two eyes really differ (the warp ran).
        if layout == Layout::HalfSbs {
            let (w, f) = (cpu.size.0 as usize, &cpu.frames[0].1);
            let half = |right: bool| -> Vec<u8> {
                f.chunks(w * 4)
                    .flat_map(|r| if right { &r[w * 2..] } else { &r[..w * 2] }.to_vec())
                    .collect()
            };
            assert!(mean_diff(&half(false), &half(true)) > 1.0, "eyes differ");
        }
    }
}

#[test]
fn auto_picks_the_cpu_warp_only_on_a_software_adapter_and_when_nothing_needs_the_gpu() {
    let dir = common::work_dir("e2e_warp_device");
    let mut j = job(Path::new("in.mp4"), dir.join("out.mp4"), Layout::HalfSbs);
    j.warp_device = WarpDevice::Auto;
    assert!(j.warps_on_cpu(true).unwrap());
    assert!(!j.warps_on_cpu(false).unwrap());
    j.warp_resolution = WarpResolution::Input;
    assert!(
        !j.warps_on_cpu(true).unwrap(),
        "eyes squeezed after the warp"
    );
    j.warp_resolution = WarpResolution::Output;
    j.layout = Layout::Grid;
    assert!(!j.warps_on_cpu(true).unwrap(), "inspection layouts");
    j.layout = Layout::HalfSbs;
    let post = dir.join("post.wgsl");
    std::fs::write(
        &post,
        "fn post(p: vec2<u32>) -> vec4<f32> { return vec4<f32>(1.0); }",
    )
    .unwrap();
    j.post = Some(post);
    assert!(!j.warps_on_cpu(true).unwrap(), "post shaders");
    j.warp_device = WarpDevice::Cpu;
    let err = j.validate_settings().unwrap_err().to_string();
    assert!(err.contains("--warp-device cpu cannot do --post"), "{err}");
}

#[test]
fn a_cpu_warp_trace_has_its_spans_and_its_threads_cpu_time() {
    let dir = common::work_dir("e2e_cpu_trace");
    // Large enough for the warp threads to use many 10 ms clock ticks.
    stereosplat::media::synth::write_sample(&dir, (960, 540), FRAMES, 24).expect("sample media");
    let input = dir.join("sample.mp4");
    let trace = dir.join("trace.json");
    let mut j = job(&input, dir.join("out.mkv"), Layout::HalfSbs);
    j.warp_device = WarpDevice::Cpu;
    j.trace = Some(trace.clone());
    let report = render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap();
    let events = trace_events(&trace);
    let spans = |name: &str| span_count(&events, name);
    assert_eq!(spans("CPU warp + compose"), FRAMES);
    assert_eq!(spans("upload + GPU submit"), 0);
    assert!(report.stages.cpu_warp > 0.0);
    assert!(report.stages.to_string().contains("CPU warp+compose"));
    let warp_cpu = report.cpu.total[0..STAGES.len()]
        .iter()
        .zip(STAGES)
        .find(|(_, s)| *s == Stage::CpuWarp)
        .map(|(t, _)| *t)
        .unwrap();
    assert!(
        warp_cpu > 0.0,
        "the warp's threads were sampled: {:?}",
        report.cpu
    );
}

#[test]
fn eight_bit_depth_video_is_read_as_its_luma_expanded_to_full_range() {
    use stereosplat::depth::DepthScan;
    use stereosplat::depth::prerendered::{DepthStream, Matching};
    use stereosplat::depth::scan::ScanNeed;
    use stereosplat::frame::FramePixels;
    use stereosplat::media::decode::Grey8Range;
    let dir = common::work_dir("e2e_depth8");
    let depth = dir.join("d.mp4");
    // An odd width: the luma plane's rows are padded, so the stride is not the width.
    stereosplat::media::synth::depth_clip(&depth, (98, 54), 3, 24).unwrap();
    let scan = DepthScan::run(&depth, false, ScanNeed::All).unwrap();
    assert_eq!(scan.source_bits, 8);
    // The depth decoder takes the 4:2:0 frames as decoded (no grey conversion).
    let mut direct = Decoder::open(&depth, PixelFormat::Depth, &DecodeOptions::default()).unwrap();
    let first = direct.next_frame().unwrap().expect("frame");
    assert_eq!(first.grey8(), Some(Grey8Range::Limited));
    let mut stream = DepthStream::open(&scan, Matching::Index, 0, 0).unwrap();
    // The same frames' luma, read independently.
    let mut reference =
        Decoder::open(&depth, PixelFormat::Native, &DecodeOptions::default()).unwrap();
    let (mut lo, mut hi, mut lo_nonzero) = (u16::MAX, 0u16, u16::MAX);
    for i in 0..3u64 {
        let want = reference.next_frame().unwrap().expect("frame");
        let FramePixels::I420 { planes, .. } = want.pixels() else {
            panic!("the clip decodes to I420");
        };
        let (luma, luma_stride) = (planes[0].0, planes[0].1 as usize);
        let (wide, changed) = stream.frame_for(i, want.pts_nanos, false).unwrap();
        assert!(changed);
        assert!(!wide.gray8);
        assert_eq!(wide.stride, 98 * 2);
        let wide = wide.data.to_vec();
        let (narrow, _) = stream.frame_for(i, want.pts_nanos, true).unwrap();
        assert!(narrow.gray8);
        for y in 0..54usize {
            for x in 0..98usize {
                // Video black (16) is 0 and white (235) is 255.
                let v = f32::from(luma[y * luma_stride + x]);
                let full = ((v - 16.0) * 255.0 / 219.0).round().clamp(0.0, 255.0) as u16;
                let got = u16::from(narrow.data[y * narrow.stride as usize + x]);
                assert_eq!(got, full, "frame {i} at ({x}, {y}): luma {v}");
                // The GPU's 16-bit texture: v * 257.
                assert_eq!((got * 257).to_le_bytes(), wide[y * 196 + 2 * x..][..2]);
                lo = lo.min(got * 257);
                hi = hi.max(got * 257);
                if got > 0 {
                    lo_nonzero = lo_nonzero.min(got * 257);
                }
            }
        }
    }
    // The scan reads the same values.
    assert_eq!((scan.min, scan.max), (lo, hi));
    assert_eq!(scan.min_nonzero, lo_nonzero);
    // The clip holds video black, so the smallest value above it is another value.
    assert!(lo == 0 && lo_nonzero > 0, "{lo} {lo_nonzero}");
}

#[test]
fn a_depth_clip_scanned_in_parts_gives_the_same_scan_as_in_one() {
    use stereosplat::depth::DepthScan;
    use stereosplat::depth::scan::ScanNeed;
    let dir = common::work_dir("e2e_scan_parts");
    // 288 frames put the bounds at frames' starts (whose durations round to a nanosecond
    // under the nominal 1/24 s); 289 put them a third and a half of a frame past a
    // frame's start, where the seek clips that frame to begin at the bound: it belongs
    // to the part before. Matroska also rounds every timestamp to the millisecond.
    for (name, frames) in [
        ("at.mp4", 288),
        ("inside.mp4", 289),
        ("at.mkv", 288),
        ("inside.mkv", 289),
    ] {
        let depth = dir.join(name);
        // 12 s: x264's keyframes every 250 frames, so the later parts seek into a GOP.
        stereosplat::media::synth::depth_clip(&depth, (64, 36), frames, 24).unwrap();
        let (whole, split) = DepthScan::run_in_parts(&depth, false, ScanNeed::All, 1, 0).unwrap();
        assert!(!split);
        assert_eq!(whole.frames, frames);
        for parts in [2, 3] {
            let (scan, split) =
                DepthScan::run_in_parts(&depth, false, ScanNeed::All, parts, 0).unwrap();
            assert!(split, "{name}: {parts} parts met where each stopped");
            assert_eq!(scan, whole, "{name}: {parts} parts");
        }
        // Shorter than the threshold: one part.
        let (scan, split) =
            DepthScan::run_in_parts(&depth, false, ScanNeed::All, 3, 60_000_000_000).unwrap();
        assert!(!split);
        assert_eq!(scan, whole);
    }
}

#[test]
fn ten_bit_depth_video_keeps_its_bits_as_16_bit_grey() {
    let dir = common::work_dir("e2e_depth10");
    let depth = dir.join("d10.mkv");
    // A smooth 10-bit ramp: 8 bits could not tell its neighbouring values apart.
    stereosplat::media::synth::run_launch(&format!(
        "videotestsrc num-buffers=3 pattern=gradient ! video/x-raw,width=64,height=36,framerate=10/1 ! \
         videoconvert ! video/x-raw,format=I420_10LE ! x264enc speed-preset=ultrafast pass=quant quantizer=0 ! \
         h264parse ! matroskamux ! filesink location=\"{}\"",
        depth.display()
    ))
    .unwrap();
    let mut dec = Decoder::open(&depth, PixelFormat::Depth, &DecodeOptions::default()).unwrap();
    assert_eq!(dec.info().source_bits, 10);
    let frame = dec.next_frame().unwrap().expect("frame");
    // Not narrowed to 8-bit luma: the 10-bit luma as decoded, widened to 16 bits.
    assert_eq!(frame.grey8(), None);
    let grey = frame.grey10().expect("10-bit luma as decoded");
    let stride = frame.stride_bytes() as usize;
    let values: std::collections::BTreeSet<u16> = (0..36usize)
        .flat_map(|y| {
            let row = &frame.data()[y * stride..];
            (0..64usize).map(move |x| {
                let stored = u16::from_le_bytes([row[2 * x], row[2 * x + 1]]);
                grey.to_16()[usize::from(grey.value(stored))]
            })
        })
        .collect();
    assert!(
        values.iter().any(|v| v % 257 != 0),
        "values are 8-bit ones widened: {values:?}"
    );
}

#[test]
fn ten_bit_depth_video_is_read_as_decoded_and_renders_like_its_16_bit_twin() {
    use gstreamer_video as gst_video;
    use stereosplat::depth::DepthScan;
    use stereosplat::depth::scan::ScanNeed;
    let dir = common::work_dir("e2e_depth10_twin");
    let input = sample(&dir);
    // 10-bit limited-range luma (64..940) over the frame, moving with time, and its
    // twin in 16-bit grey: (v - 64) * 65535 / 876, rounded, as a 10-bit depth should read.
    let luma =
        |i: u64, x: u32, y: u32| -> u16 { 64 + ((x * 7 + y * 5 + i as u32 * 11) % 877) as u16 };
    let widened = |v: u16| -> u16 { (((u32::from(v) - 64) * 65535 + 438) / 876) as u16 };
    let caps = |format| {
        gst_video::VideoInfo::builder(format, W, H)
            .fps(gstreamer::Fraction::new(24, 1))
            .build()
            .unwrap()
            .to_caps()
            .unwrap()
    };
    let ffv1 = |path: &Path| {
        format!(
            "avenc_ffv1 ! matroskamux ! filesink location=\"{}\"",
            path.display()
        )
    };
    let (ten, twin) = (dir.join("depth10.mkv"), dir.join("depth16.mkv"));
    let (cw, ch) = (W.div_ceil(2), H.div_ceil(2));
    stereosplat::media::synth::write_frames(
        &caps(gst_video::VideoFormat::I42010le),
        &ffv1(&ten),
        (0..FRAMES).map(|i| {
            let mut f: Vec<u8> = (0..H)
                .flat_map(|y| (0..W).map(move |x| (x, y)))
                .flat_map(|(x, y)| luma(i, x, y).to_le_bytes())
                .collect();
            f.extend((0..2 * cw * ch).flat_map(|_| 512u16.to_le_bytes()));
            f
        }),
        24,
    )
    .unwrap();
    stereosplat::media::synth::write_frames(
        &caps(gst_video::VideoFormat::Gray16Le),
        &ffv1(&twin),
        (0..FRAMES).map(|i| {
            (0..H)
                .flat_map(|y| (0..W).map(move |x| (x, y)))
                .flat_map(|(x, y)| widened(luma(i, x, y)).to_le_bytes())
                .collect()
        }),
        24,
    )
    .unwrap();

    // Read as decoded, not through videoconvert's grey conversion.
    let mut dec = Decoder::open(&ten, PixelFormat::Depth, &DecodeOptions::default()).unwrap();
    let frame = dec.next_frame().unwrap().unwrap();
    assert!(frame.grey10().is_some(), "10-bit luma as decoded");
    let (a, b) = (
        DepthScan::run(&ten, false, ScanNeed::All).unwrap(),
        DepthScan::run(&twin, false, ScanNeed::All).unwrap(),
    );
    assert_eq!((a.min, a.min_nonzero, a.max), (b.min, b.min_nonzero, b.max));
    assert_eq!((a.min, a.max), (0, 65535));

    let mut outputs = Vec::new();
    for (depth, name) in [(&ten, "ten.mkv"), (&twin, "twin.mkv")] {
        for device in [WarpDevice::Gpu, WarpDevice::Cpu] {
            let out = dir.join(format!("{device:?}_{name}"));
            let mut j = job(&input, out.clone(), Layout::Sbs);
            j.depth = Some(depth.clone());
            j.warp_device = device;
            j.encode.crf = 0;
            render(common::gpu(), &j, &mut Silent, &Cancel::default()).unwrap();
            outputs.push(decode_all(&out));
        }
    }
    // Same depth values, so the same frames, on either warp.
    for (ten, twin) in outputs[..2].iter().zip(&outputs[2..]) {
        assert_eq!(ten.frames.len(), FRAMES as usize);
        assert!(
            ten.frames == twin.frames,
            "the 10-bit depth renders like its twin"
        );
    }
}

#[test]
fn frames_too_large_for_one_gpu_buffer_render_like_the_rest() {
    use stereosplat::gpu::{AdapterChoice, GpuContext};
    // A device whose storage bindings hold this clip's I420 output but neither its
    // decoded 10-bit planes nor its z-buffer, as 16K video meets Direct3D 12's 128 MiB:
    // the planes are converted on the CPU and the warp runs in bands of rows. (Were
    // either not so, the small device would refuse the buffers and the render fail.)
    let dir = common::work_dir("e2e_small_bindings");
    let input = dir.join("ten.mkv");
    stereosplat::media::synth::run_launch(&format!(
        "videotestsrc num-buffers=6 pattern=smpte ! video/x-raw,width={W},height={H},framerate=24/1 ! \
         videoconvert ! video/x-raw,format=I420_10LE ! x264enc speed-preset=ultrafast pass=quant quantizer=0 ! \
         h264parse ! matroskamux ! filesink location=\"{}\"",
        input.display()
    ))
    .unwrap();
    let depth = dir.join("ten_depth.mp4");
    stereosplat::media::synth::depth_clip(&depth, (W, H), 6, 24).unwrap();
    let (w, h) = (u64::from(W), u64::from(H));
    // Half SBS: an I420 output of 1.5wh bytes (+4 of scratch) against 3wh of 10-bit
    // planes and a z-buffer of 2wh (the warp runs at the shown eye's half width).
    let limit = w * h * 3 / 2 + 200;
    let small = GpuContext::with_limits(&AdapterChoice::Auto, |l| {
        l.max_storage_buffer_binding_size = limit;
    })
    .unwrap();
    let render_on = |ctx: &GpuContext, name: &str| {
        let out = dir.join(name);
        let mut j = job(&input, out.clone(), Layout::HalfSbs);
        j.depth = Some(depth.clone());
        j.encode.crf = 0;
        // Not left to `auto`, which converts on the CPU anyway on a software rasteriser.
        j.colour_convert = ColourConvert::Gpu;
        render(ctx, &j, &mut Silent, &Cancel::default()).unwrap();
        decode_all(&out)
    };
    let usual = render_on(common::gpu(), "usual.mkv");
    let small = render_on(&small, "small.mkv");
    assert_eq!(usual.frames.len(), 6);
    assert_eq!(small.frames.len(), usual.frames.len());
    for ((_, a), (_, b)) in small.frames.iter().zip(&usual.frames) {
        // The CPU's conversion of the planes matches the shader's to a level.
        let worst = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
        assert!(worst <= 2, "frames differ by up to {worst} levels");
    }
}

#[test]
fn an_output_too_large_for_one_gpu_buffer_is_refused_or_warped_on_the_cpu() {
    use stereosplat::gpu::{AdapterChoice, GpuContext};
    // The I420 output is packed into one storage buffer: a device whose bindings cannot
    // hold it refuses a GPU warp with a clear message, and `auto` warps on the CPU.
    let dir = common::work_dir("e2e_small_output");
    let input = sample(&dir);
    let limit = u64::from(W * H); // under the 1.5 bytes a pixel of I420
    let small = GpuContext::with_limits(&AdapterChoice::Auto, |l| {
        l.max_storage_buffer_binding_size = limit;
    })
    .unwrap();
    let out = dir.join("gpu.mkv");
    let err = render(
        &small,
        &job(&input, out.clone(), Layout::HalfSbs),
        &mut Silent,
        &Cancel::default(),
    )
    .expect_err("refused")
    .to_string();
    assert!(err.contains("I420 output buffer"), "{err}");
    assert!(!out.exists());
    // (On a software rasteriser `auto` warps on the CPU in any case.)
    let mut j = job(&input, dir.join("auto.mkv"), Layout::HalfSbs);
    j.warp_device = WarpDevice::Auto;
    let report = render(&small, &j, &mut Silent, &Cancel::default()).unwrap();
    assert_eq!(report.frames, FRAMES);
}
