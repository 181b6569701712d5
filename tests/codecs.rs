//! Decoding breadth: the containers and codecs users bring (mp4, mkv, webm, mov, avi;
//! H.264, H.265, VP9, AV1, MPEG-4 part 2), 8-bit depth videos, and audio the output
//! container cannot take as it is (re-encoded to AAC).

mod common;

use std::path::Path;

use stereosplat::control::Cancel;
use stereosplat::layout::Layout;
use stereosplat::media::decode::{DecodeOptions, Decoder, PixelFormat};
use stereosplat::progress::Silent;
use stereosplat::render::{RenderJob, render};

const W: u32 = 64;
const H: u32 = 48;
const FRAMES: u64 = 8;

fn encode(path: &Path, encoder: &str, mux: &str) {
    stereosplat::media::synth::run_launch(&format!(
        "videotestsrc num-buffers={FRAMES} pattern=smpte ! video/x-raw,width={W},height={H},framerate=24/1 ! \
         videoconvert ! video/x-raw,format=I420 ! {encoder} ! {mux} ! filesink location=\"{}\"",
        path.display()
    ))
    .unwrap_or_else(|e| panic!("cannot make {}: {e}", path.display()));
}

fn count_frames(path: &Path) -> (u64, (u32, u32)) {
    let mut dec = Decoder::open(path, PixelFormat::Rgba, &DecodeOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let size = (dec.info().width, dec.info().height);
    let mut n = 0;
    while dec.next_frame().unwrap().is_some() {
        n += 1;
    }
    (n, size)
}

#[test]
fn common_codecs_and_containers_decode_every_frame() {
    let dir = common::work_dir("codecs");
    let cases = [
        ("h265.mp4", "x265enc ! h265parse", "mp4mux"),
        ("h265.mkv", "x265enc ! h265parse", "matroskamux"),
        ("vp9.webm", "vp9enc deadline=1", "webmmux"),
        ("mpeg4.avi", "avenc_mpeg4 ! mpeg4videoparse", "avimux"),
        ("h264.mov", "x264enc ! h264parse", "qtmux"),
        ("av1.mkv", "av1enc cpu-used=8 ! av1parse", "matroskamux"),
    ];
    for (name, enc, mux) in cases {
        let path = dir.join(name);
        encode(&path, enc, mux);
        let (n, size) = count_frames(&path);
        assert_eq!((n, size), (FRAMES, (W, H)), "{name}");
    }
}

#[test]
fn eight_bit_depth_video_and_vorbis_audio_into_mp4() {
    let dir = common::work_dir("codecs_depth8");
    let input = dir.join("clip.mkv");
    common::h264_with_vorbis(&input, (W, H), FRAMES);
    stereosplat::media::synth::depth_clip(&dir.join("clip_depth.mp4"), (W, H), FRAMES, 24).unwrap();
    let out = dir.join("out.mp4");
    let job = RenderJob {
        input: input.clone(),
        output: out.clone(),
        layout: Layout::HalfSbs,
        ..Default::default()
    };
    let report = render(common::gpu(), &job, &mut Silent, &Cancel::default()).unwrap();
    assert_eq!(report.frames, FRAMES);
    assert!(
        report.audio,
        "vorbis cannot go into mp4 as is: it must be re-encoded, not dropped"
    );
    common::open_with_aac(&out);
}

/// Whether GStreamer here has a usable hardware H.264 encoder (then `auto` picks it).
fn hardware_h264() -> bool {
    stereosplat::media::encode::VideoEncoder::Auto
        .resolve(8)
        .is_ok_and(|e| e.hardware)
}

#[test]
fn encoder_choice_h265_ten_bit_and_honest_auto() {
    let dir = common::work_dir("codecs_encoders");
    let input = dir.join("clip.mp4");
    stereosplat::media::synth::colour_clip(&input, (W, H), FRAMES, 24, false).unwrap();
    std::fs::copy(&input, dir.join("clip_depth.mp4")).unwrap();
    let run = |args: &[&str]| {
        let o = std::process::Command::new(common::bin())
            .arg("render")
            .arg(&input)
            .args(args)
            .args(["--speed-preset", "ultrafast"])
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };

    // 10-bit H.265: the output decodes to a 10-bit format with every frame.
    let out = dir.join("ten.mkv");
    let (code, log) = run(&[
        "-o",
        out.to_str().unwrap(),
        "--encoder",
        "x265",
        "--bit-depth",
        "10",
    ]);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("x265enc (H.265, 10-bit)"), "{log}");
    let dec = Decoder::open(&out, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
    assert_eq!(dec.info().source_bits, 10);
    assert_eq!(count_frames(&out).0, FRAMES);

    // auto says what it picked: a hardware encoder where GStreamer has one, else x264.
    let out = dir.join("auto.mp4");
    let (code, log) = run(&["-o", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{log}");
    if !hardware_h264() {
        assert!(
            log.contains("video encoder: x264enc (H.264, 8-bit)"),
            "{log}"
        );
    } else {
        assert!(log.contains("(hardware H.264"), "{log}");
    }

    // A hardware encoder asked for by name that is missing is an error naming what exists.
    if !hardware_h264() {
        let out = dir.join("nv.mp4");
        let (code, log) = run(&["-o", out.to_str().unwrap(), "--encoder", "nvenc"]);
        assert_eq!(code, Some(1), "{log}");
        assert!(
            log.contains("--encoder nvenc: not available") && log.contains("x264enc"),
            "{log}"
        );
        assert!(!out.exists());
    }
    // 10-bit needs H.265.
    let (code, log) = run(&[
        "-o",
        dir.join("b.mp4").to_str().unwrap(),
        "--encoder",
        "x264",
        "--bit-depth",
        "10",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        log.contains("--bit-depth 10 needs an H.265 encoder"),
        "{log}"
    );
    let (code, log) = run(&[
        "-o",
        dir.join("c.mp4").to_str().unwrap(),
        "--bit-depth",
        "12",
    ]);
    assert_eq!(code, Some(2), "{log}");
    // --decoder software always works; hardware needs a hardware decoder.
    let (code, log) = run(&[
        "-o",
        dir.join("d.mp4").to_str().unwrap(),
        "--decoder",
        "software",
    ]);
    assert_eq!(code, Some(0), "{log}");
}
