//! A GStreamer without gstreamer1.0-libav (Fedora without RPM Fusion; the bundle that
//! carries GStreamer to the GPU machine): H.264 decodes with openh264 and audio is
//! re-encoded with another AAC encoder; audio that no decoder here takes is reported.
//! Its own test binary, because the first test removes libav from this process's plugin
//! registry.

mod common;

use gstreamer as gst;

use stereosplat::control::Cancel;
use stereosplat::layout::Layout;
use stereosplat::progress::Silent;
use stereosplat::render::{RenderJob, render};

const W: u32 = 64;
const H: u32 = 48;
const FRAMES: u64 = 8;

#[test]
fn renders_with_openh264_and_another_aac_encoder() {
    let dir = common::work_dir("without_libav");
    let input = dir.join("clip.mkv");
    // Made while libav is still there.
    common::h264_with_vorbis(&input, (W, H), FRAMES);
    // Any clip serves as depth here; lossless H.264 (`synth::depth_clip`) is a profile
    // (High 4:4:4) that only libav decodes.
    stereosplat::media::synth::colour_clip(&dir.join("clip_depth.mp4"), (W, H), FRAMES, 24, false)
        .unwrap();

    let registry = gst::Registry::get();
    let libav = registry
        .find_plugin("libav")
        .expect("gstreamer1.0-libav is installed here (bash .ci/setup)");
    registry.remove_plugin(&libav);
    assert!(!stereosplat::media::has_element("avdec_h264"));
    let aac = stereosplat::media::aac_encoder().expect("another AAC encoder");
    assert_ne!(aac, "avenc_aac");

    let out = dir.join("out.mp4");
    let job = RenderJob {
        input,
        output: out.clone(),
        layout: Layout::HalfSbs,
        ..Default::default()
    };
    let report =
        render(common::gpu(), &job, &mut Silent, &Cancel::default()).expect("render without libav");
    assert_eq!(report.frames, FRAMES);
    assert!(
        report.audio,
        "the Vorbis track must be re-encoded with {aac}"
    );

    let mut dec = common::open_with_aac(&out);
    let mut n = 0;
    while dec.next_frame().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(
        n, FRAMES,
        "the output decodes (with openh264) frame by frame"
    );
}

#[test]
fn audio_without_a_decoder_is_reported_not_silently_dropped() {
    let dir = common::work_dir("without_aac_decoder");
    let input = dir.join("clip.mp4");
    stereosplat::media::synth::colour_clip(&input, (W, H), FRAMES, 24, true).unwrap();
    std::fs::copy(&input, dir.join("clip_depth.mp4")).unwrap();
    let out = dir.join("out.mp4");
    // Rank none hides the AAC decoders from parsebin, as if they were not installed.
    let run = std::process::Command::new(common::bin())
        .env(
            "GST_PLUGIN_FEATURE_RANK",
            "avdec_aac:0,avdec_aac_fixed:0,avdec_aac_latm:0,faad:0,fdkaacdec:0",
        )
        .args(["render", "--layout", "half-sbs", "-o"])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("its audio (audio/mpeg) is left out")
            && stderr.contains("gstreamer1.0-libav"),
        "{stderr}"
    );
    assert!(out.exists());
}
