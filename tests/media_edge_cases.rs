//! Inputs that look ordinary but are not: variable frame rate (timing must survive), a
//! phone video with a rotation tag (must be upright), and paths that cannot be read or
//! written.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use stereosplat::media::decode::{DecodeOptions, Decoder, PixelFormat};

fn run(args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(common::bin()).args(args).output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes RGBA frames with the given timestamps (ms) as lossless FFV1 in Matroska.
fn write_timed(path: &Path, (w, h): (u32, u32), pts_ms: &[u64]) {
    stereosplat::media::init().unwrap();
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time ! videoconvert ! avenc_ffv1 ! matroskamux ! filesink location=\"{}\"",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    src.set_caps(Some(
        &gst::Caps::builder("video/x-raw")
            .field("format", "RGBA")
            .field("width", w as i32)
            .field("height", h as i32)
            .field("framerate", gst::Fraction::new(0, 1))
            .build(),
    ));
    pipeline.set_state(gst::State::Playing).unwrap();
    for (i, &ms) in pts_ms.iter().enumerate() {
        let data: Vec<u8> = (0..w * h)
            .flat_map(|p| [(p % w * 4) as u8, (i * 20) as u8, 128, 255])
            .collect();
        let mut buf = gst::Buffer::from_mut_slice(data);
        {
            let b = buf.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_mseconds(ms));
            let next = pts_ms.get(i + 1).copied().unwrap_or(ms + 40);
            b.set_duration(gst::ClockTime::from_mseconds(next - ms));
        }
        src.push_buffer(buf).unwrap();
    }
    src.end_of_stream().unwrap();
    let bus = pipeline.bus().unwrap();
    bus.timed_pop_filtered(
        gst::ClockTime::NONE,
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

fn timestamps_ms(path: &Path) -> Vec<u64> {
    let mut dec = Decoder::open(path, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
    let mut out = Vec::new();
    while let Some(f) = dec.next_frame().unwrap() {
        out.push((f.pts_nanos + 500_000) / 1_000_000);
    }
    out
}

#[test]
fn variable_frame_rate_keeps_every_frame_at_its_time() {
    let dir = common::work_dir("edge_vfr");
    // Irregular gaps, as phones record: 40, 10, 80, 10, 33, 67 ... ms.
    let pts = [0u64, 40, 50, 130, 140, 173, 240, 250, 330, 400];
    let clip = dir.join("vfr.mkv");
    write_timed(&clip, (64, 36), &pts);
    // A still depth image pairs with every frame.
    let depth = dir.join("depth.png");
    stereosplat::media::synth::run_launch(&format!(
        "videotestsrc num-buffers=1 pattern=gradient ! video/x-raw,width=64,height=36,format=GRAY16_BE ! pngenc ! filesink location=\"{}\"",
        depth.display()
    ))
    .unwrap();
    assert_eq!(timestamps_ms(&clip), pts);
    let out = dir.join("out.mkv");
    let (code, log) = run(&[
        "render",
        s(&clip),
        "--depth",
        s(&depth),
        "-o",
        s(&out),
        "--speed-preset",
        "ultrafast",
    ]);
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(
        timestamps_ms(&out),
        pts,
        "one output frame per input frame, at its time"
    );
}

/// Sets the first video track's tkhd matrix of an MP4 to a 90-degree clockwise rotation,
/// as phones write it (GStreamer 1.22's muxer cannot write one itself).
fn rotate_mp4_90(bytes: &mut [u8]) {
    let at = bytes
        .windows(4)
        .position(|w| w == b"tkhd")
        .expect("an mp4 with a track header");
    // Box type at `at`; then version(1) flags(3), times and ids: 20 bytes (version 0),
    // reserved 8, layer/group/volume/reserved 8 = the matrix starts 40 bytes in.
    assert_eq!(bytes[at + 4], 0, "version 0 tkhd");
    let m = at + 4 + 40;
    let matrix: [u32; 9] = [0, 0x0001_0000, 0, 0xFFFF_0000, 0, 0, 0, 0, 0x4000_0000];
    for (i, v) in matrix.iter().enumerate() {
        bytes[m + 4 * i..m + 4 * i + 4].copy_from_slice(&v.to_be_bytes());
    }
}

#[test]
fn a_phone_video_with_a_rotation_tag_is_rendered_upright() {
    let dir = common::work_dir("edge_rotated");
    let flat = dir.join("flat.mp4");
    // Landscape frames: a blue border added on the left (videobox left=-32) of a red half.
    stereosplat::media::synth::run_launch(&format!(
        "videotestsrc num-buffers=6 pattern=solid-color foreground-color=0xffff0000 ! video/x-raw,width=32,height=48 ! \
         videobox left=-32 fill=blue ! video/x-raw,width=64,height=48,framerate=24/1 ! videoconvert ! video/x-raw,format=I420 ! \
         x264enc speed-preset=ultrafast pass=quant quantizer=0 ! h264parse ! mp4mux ! filesink location=\"{}\"",
        flat.display()
    ))
    .unwrap();
    let mut bytes = std::fs::read(&flat).unwrap();
    rotate_mp4_90(&mut bytes);
    let phone = dir.join("phone.mp4");
    std::fs::write(&phone, bytes).unwrap();

    // The tag says "rotate 90 degrees clockwise" (qtdemux: rotate-90): decoded upright it
    // is portrait with the left (blue) half on top.
    let mut dec = Decoder::open(&phone, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
    assert_eq!(
        (dec.info().width, dec.info().height),
        (48, 64),
        "rotated to portrait"
    );
    let f = dec.next_frame().unwrap().unwrap();
    let px = |x: usize, y: usize| {
        let o = y * f.stride_bytes() as usize + 4 * x;
        [f.data()[o], f.data()[o + 1], f.data()[o + 2]]
    };
    let top = px(24, 8);
    let bottom = px(24, 56);
    assert!(top[2] > 200 && top[0] < 60, "top should be blue: {top:?}");
    assert!(
        bottom[0] > 200 && bottom[2] < 60,
        "bottom should be red: {bottom:?}"
    );

    // Rendered with a portrait depth it is a portrait stereo pair.
    let depth = dir.join("phone_depth.png");
    stereosplat::media::synth::run_launch(&format!(
        "videotestsrc num-buffers=1 pattern=gradient ! video/x-raw,width=48,height=64,format=GRAY16_BE ! pngenc ! filesink location=\"{}\"",
        depth.display()
    ))
    .unwrap();
    let out = dir.join("phone_sbs.mp4");
    let (code, log) = run(&[
        "render",
        s(&phone),
        "-o",
        s(&out),
        "--speed-preset",
        "ultrafast",
    ]);
    assert_eq!(code, Some(0), "{log}");
    let dec = Decoder::open(&out, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
    assert_eq!((dec.info().width, dec.info().height), (96, 64));
}

#[test]
fn unreadable_and_unwritable_paths_are_clear_errors() {
    let dir = common::work_dir("edge_paths");
    stereosplat::media::synth::write_sample(&dir, (64, 36), 4, 24).unwrap();
    let input = dir.join("sample.mp4");
    // A path that goes through a file cannot be read, whoever we are (root included).
    let through_file: PathBuf = input.join("clip.mp4");
    let (code, log) = run(&["render", s(&through_file), "-o", s(&dir.join("a.mp4"))]);
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("clip.mp4") && !log.contains("panicked"),
        "{log}"
    );
    // A folder nobody can create files in (/proc), and a "folder" that is a file. (A
    // missing folder is created, as for the README's out/.)
    for out in [
        PathBuf::from("/proc/stereosplat-test.mp4"),
        input.join("out.mp4"),
    ] {
        let (code, log) = run(&["render", s(&input), "-o", s(&out)]);
        assert_eq!(code, Some(1), "{}: {log}", out.display());
        assert!(
            log.contains("cannot write") || log.contains("cannot create the output folder"),
            "{}: {log}",
            out.display()
        );
        assert!(!out.exists());
    }
    // Depth export and the preset file too.
    let (code, log) = run(&["depth", s(&input), "-o", "/proc/d.mkv", "--no-cache"]);
    assert_eq!(code, Some(1), "{log}");
    let (code, log) = run(&[
        "render",
        s(&input),
        "-o",
        s(&dir.join("b.mp4")),
        "--preset",
        s(&through_file),
    ]);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("cannot read preset"), "{log}");
}

/// The pixel aspect ratio a player reads from the stream (SPS VUI / container), as
/// GStreamer's parsers report it. (A decoder may report another one for frame-packed
/// half-width video: GStreamer doubles it per view for "half-aspect" side-by-side.)
fn stream_par(path: &Path) -> String {
    let o = Command::new("gst-launch-1.0")
        .args(["-v", "filesrc", &format!("location={}", s(path))])
        .args(["!", "parsebin", "!", "fakesink", "num-buffers=1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let key = "pixel-aspect-ratio=(fraction)";
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("no PAR in\n{text}"))
        + key.len();
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '/')
        .collect()
}

#[test]
fn anamorphic_video_keeps_its_pixel_aspect_ratio() {
    // DVD-style 32:27 pixels (16:9 on screen), made small.
    let dir = common::work_dir("edge_anamorphic");
    let input = dir.join("dvd.mp4");
    stereosplat::media::synth::run_launch(&format!(
        "videotestsrc num-buffers=6 ! video/x-raw,width=72,height=48,pixel-aspect-ratio=32/27,framerate=24/1 ! videoconvert ! video/x-raw,format=I420 ! x264enc ! mp4mux ! filesink location=\"{}\"",
        input.display()
    ))
    .unwrap();
    let decoded = Decoder::open(&input, PixelFormat::Rgba, &DecodeOptions::default())
        .unwrap()
        .info()
        .pixel_aspect;
    assert_eq!(decoded, (32, 27), "the test clip is anamorphic");
    for layout in ["half-sbs", "sbs", "tb", "anaglyph"] {
        let out = dir.join(format!("{layout}.mp4"));
        let (code, err) = run(&["render", s(&input), "-o", s(&out), "--layout", layout]);
        assert_eq!(code, Some(0), "{err}");
        assert!(err.contains("non-square pixels (32:27)"), "{err}");
        assert_eq!(stream_par(&out), "32/27", "{layout}: pixel aspect lost");
    }
}

/// The end of a render collects the rest of the source audio. With nothing left to come
/// (no audio stream, or the audio ended before the video) it must not wait out its
/// two-second deadline: that used to cost every render of a silent clip two idle seconds.
#[test]
fn the_audio_tail_is_collected_without_waiting_when_nothing_more_can_come() {
    let dir = common::work_dir("media_audio_tail");
    let silent = dir.join("silent.mp4");
    stereosplat::media::synth::colour_clip(&silent, (64, 36), 12, 24, false).unwrap();
    // Half a second of tone under a one-second picture.
    let short_audio = dir.join("short_audio.mp4");
    stereosplat::media::synth::run_launch(&format!(
        "videotestsrc num-buffers=24 ! video/x-raw,width=64,height=36,framerate=24/1 ! \
         videoconvert ! x264enc speed-preset=ultrafast ! h264parse ! mp4mux name=mux ! \
         filesink location=\"{}\" \
         audiotestsrc num-buffers=24 samplesperbuffer=1000 ! audio/x-raw,rate=48000,channels=2 ! \
         audioconvert ! avenc_aac ! aacparse ! mux.",
        short_audio.display()
    ))
    .unwrap();
    for (path, want_audio) in [(&silent, false), (&short_audio, true)] {
        let options = DecodeOptions {
            start_nanos: 0,
            with_audio: true,
            ..Default::default()
        };
        let mut dec = Decoder::open(path, PixelFormat::Rgba, &options).unwrap();
        let mut end = 0;
        while let Some(f) = dec.next_frame().unwrap() {
            end = f.pts_nanos + f.duration_nanos.unwrap_or(0);
        }
        let mut audio = Vec::new();
        let t = std::time::Instant::now();
        dec.finish_audio(end, &mut audio);
        let waited = t.elapsed();
        assert!(
            waited < std::time::Duration::from_millis(1500),
            "{}: waited {waited:?} for audio that could not come",
            path.display()
        );
        assert_eq!(!audio.is_empty(), want_audio, "{}", path.display());
        if want_audio {
            // All of it: the last buffer ends near half a second.
            let last = audio.last().unwrap();
            let last_end = last.pts().unwrap() + last.duration().unwrap_or_default();
            assert!(
                last_end.mseconds() >= 450,
                "the audio's tail is missing: ends at {last_end}"
            );
        }
    }
}

#[test]
fn a_start_time_inside_a_millisecond_timestamp_starts_at_the_frame_beginning_there() {
    let dir = common::work_dir("edge_start_ms");
    let clip = dir.join("d.mkv");
    // 24 fps in Matroska: frame 10 is stored at 417 ms, while 10 / 24 s is 416.67 ms,
    // and frame 9 lasts until then. `--start 0.4166` means frame 10.
    stereosplat::media::synth::depth_clip(&clip, (32, 18), 30, 24).unwrap();
    let opts = DecodeOptions {
        start_nanos: 416_600_000,
        with_audio: false,
        ..Default::default()
    };
    let mut dec = Decoder::open(&clip, PixelFormat::Depth, &opts).unwrap();
    let mut pts = Vec::new();
    while let Some(f) = dec.next_frame().unwrap() {
        pts.push(f.pts_nanos);
    }
    // Not a 67 µs sliver of frame 9 (the seek clips it to start at the target) ahead
    // of frame 10: that would be one frame too many.
    assert_eq!(pts.len(), 20, "{pts:?}");
    assert_eq!(pts[0], 417_000_000);
}

/// Running times (ns) of every video and audio buffer of `path`, as a player would
/// schedule them: edit lists and segment starts included.
fn running_times(path: &Path) -> (Vec<u64>, Vec<(u64, u64)>) {
    stereosplat::media::init().unwrap();
    let demux = if path.extension().is_some_and(|e| e == "mkv") {
        "matroskademux"
    } else {
        "qtdemux"
    };
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! {demux} name=d \
         d.video_0 ! queue ! appsink name=v sync=false \
         d.audio_0 ! queue ! appsink name=a sync=false",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let pull = |name: &str| {
        let sink = pipeline
            .by_name(name)
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        let mut times = Vec::new();
        while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
            let buf = sample.buffer().unwrap();
            let seg = sample
                .segment()
                .unwrap()
                .downcast_ref::<gst::ClockTime>()
                .unwrap()
                .clone();
            let pts = buf.pts().unwrap();
            let run = seg.to_running_time(pts).unwrap().nseconds();
            times.push((run, buf.duration().map_or(0, |d| d.nseconds())));
        }
        times
    };
    // Both sinks fill in parallel; video first (audio is small and never blocks).
    let video: Vec<u64> = pull("v").into_iter().map(|(t, _)| t).collect();
    let audio = pull("a");
    pipeline.set_state(gst::State::Null).unwrap();
    (video, audio)
}

#[test]
fn audio_that_starts_before_the_video_is_kept_in_time() {
    // Half a second of audio before the first frame (Matroska keeps both starts).
    let dir = common::work_dir("edge_audio_first");
    let input = dir.join("late_video.mkv");
    stereosplat::media::synth::run_launch(&format!(
        "videotestsrc timestamp-offset=500000000 num-buffers=24 pattern=ball ! \
         video/x-raw,width=96,height=54,framerate=24/1 ! x264enc ! h264parse ! m. \
         audiotestsrc num-buffers=70 samplesperbuffer=1024 ! audio/x-raw,rate=48000 ! \
         audioconvert ! {} ! aacparse ! m. matroskamux name=m ! filesink location=\"{}\"",
        stereosplat::media::aac_encoder().unwrap(),
        input.display()
    ))
    .unwrap();
    let (v_in, a_in) = running_times(&input);
    let audio_end = |a: &[(u64, u64)]| a.iter().map(|(t, d)| t + d).max().unwrap();
    let lead_in = v_in.iter().min().unwrap() - a_in.iter().map(|x| x.0).min().unwrap();
    assert!(
        lead_in > 450_000_000,
        "the clip's audio leads by {lead_in} ns"
    );
    for ext in ["mkv", "mp4"] {
        let out = dir.join(format!("out.{ext}"));
        let (code, err) = run(&["render", s(&input), "-o", s(&out)]);
        assert_eq!(code, Some(0), "{err}");
        assert!(
            err.contains("the audio starts 0.500 s before the first video frame"),
            "{err}"
        );
        let (v, a) = running_times(&out);
        assert_eq!(v.len(), 24, ".{ext}");
        let a_start = a.iter().map(|x| x.0).min().unwrap();
        let v_start = *v.iter().min().unwrap();
        // Every bit of the audio is there, and the video starts as far after it as in
        // the source (within a frame's reordering and a packet).
        assert!(a_start < 30_000_000, ".{ext}: audio starts at {a_start}");
        let lead = v_start.saturating_sub(a_start);
        assert!(
            lead.abs_diff(lead_in) < 45_000_000,
            ".{ext}: the video starts {lead} ns after the audio, not {lead_in}"
        );
        let kept = audio_end(&a) - a_start;
        let source = audio_end(&a_in) - a_in.iter().map(|x| x.0).min().unwrap();
        assert!(
            kept + 30_000_000 >= source,
            ".{ext}: {kept} ns of audio kept of {source}"
        );
    }
}
