//! The depth scan stops at the frame that settles what the render reads, and still
//! reports the clip a full scan reports: its length from the file's packets, its range
//! from the frames it read.

mod common;

use std::path::Path;

use stereosplat::depth::DepthScan;
use stereosplat::depth::estimate::EstimateOptions;
use stereosplat::depth::scan::ScanNeed;

const W: u32 = 32;
const H: u32 = 18;
const FRAMES: u64 = 30;

/// What a frame of a test clip holds besides its mid-grey ramp.
#[derive(Clone, Copy)]
enum Ends {
    Neither,
    Black,
    White,
    Both,
}

/// A 16-bit depth clip: every frame a ramp well inside the range (moving, so frames
/// differ), with black and white pixels only where `ends(i)` puts them. `tail` encodes
/// GRAY16_LE frames.
fn depth_clip(path: &Path, tail: &str, ends: impl Fn(u64) -> Ends) {
    stereosplat::media::init().unwrap();
    let caps = gstreamer::Caps::builder("video/x-raw")
        .field("format", "GRAY16_LE")
        .field("width", W as i32)
        .field("height", H as i32)
        .field("framerate", gstreamer::Fraction::new(24, 1))
        .build();
    let frames = (0..FRAMES).map(|i| {
        let mut v: Vec<u16> = (0..W * H)
            .map(|p| 20_000 + ((p as u64 * 37 + i * 500) % 20_000) as u16)
            .collect();
        match ends(i) {
            Ends::Neither => {}
            Ends::Black => v[3] = 0,
            Ends::White => v[7] = u16::MAX,
            Ends::Both => (v[3], v[7]) = (0, u16::MAX),
        }
        v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()
    });
    stereosplat::media::synth::write_frames(
        &caps,
        &format!("{tail} ! filesink location=\"{}\"", path.display()),
        frames,
        24,
    )
    .unwrap_or_else(|e| panic!("cannot make {}: {e}", path.display()));
}

/// Lossless 16-bit FFV1 in Matroska, as the batch processor writes depth.
const FFV1: &str = "avenc_ffv1 ! matroskamux";
/// Lossless 8-bit H.264 with B-frames in MP4: frames arrive out of order, and mp4mux's
/// edit list shifts the timeline, which the packet count must follow as the decoder does.
const H264_BFRAMES: &str = "videoconvert ! video/x-raw,format=I420 ! \
    x264enc speed-preset=medium bframes=2 key-int-max=12 pass=quant quantizer=0 ! h264parse ! mp4mux";

/// The full scan with what an early stop changes: the frames read, and the smallest
/// value above 0 (only over those frames).
fn as_stopped(full: &DepthScan, early: &DepthScan, frames_read: u64) -> DepthScan {
    DepthScan {
        complete: false,
        frames_read,
        min_nonzero: early.min_nonzero,
        ..full.clone()
    }
}

#[test]
fn a_relative_depth_scan_stops_at_the_frame_with_both_ends_and_reports_the_whole_clip() {
    let dir = common::work_dir("scan_stops");
    for (name, tail) in [("d.mkv", FFV1), ("d.mp4", H264_BFRAMES)] {
        let path = dir.join(name);
        // Frame 5 is the first with both ends; later frames hold them again.
        depth_clip(
            &path,
            tail,
            |i| if i >= 5 { Ends::Both } else { Ends::Neither },
        );
        let full = DepthScan::run(&path, false, ScanNeed::All).unwrap();
        assert!(full.complete, "{name}");
        assert_eq!((full.frames, full.frames_read), (FRAMES, FRAMES), "{name}");
        assert_eq!((full.min, full.max), (0, u16::MAX), "{name}");
        // Matroska keeps milliseconds.
        let want = FRAMES * 1_000_000_000 / 24;
        assert!(
            full.duration_nanos.abs_diff(want) < 1_000_000,
            "{name}: {}",
            full.duration_nanos
        );
        let early = DepthScan::run(&path, false, ScanNeed::Range).unwrap();
        assert_eq!(early, as_stopped(&full, &early, 6), "{name}");
        // Disparity reads the largest value only: settled at the same frame here.
        let disparity = DepthScan::run(&path, false, ScanNeed::Max).unwrap();
        assert_eq!(disparity, as_stopped(&full, &disparity, 6), "{name}");
    }
}

#[test]
fn a_scan_runs_to_the_end_unless_its_need_is_settled() {
    let dir = common::work_dir("scan_needs");
    let path = dir.join("white_late.mkv");
    // White from frame 20, black nowhere: a relative scan cannot know the range is
    // final, a disparity scan can, and a metric one never stops early.
    depth_clip(&path, FFV1, |i| {
        if i >= 20 { Ends::White } else { Ends::Neither }
    });
    let full = DepthScan::run(&path, false, ScanNeed::All).unwrap();
    assert!(full.complete);
    assert!(full.min > 0 && full.max == u16::MAX);
    assert_eq!(DepthScan::run(&path, false, ScanNeed::Range).unwrap(), full);
    let disparity = DepthScan::run(&path, false, ScanNeed::Max).unwrap();
    assert_eq!(disparity, as_stopped(&full, &disparity, 21));
    // Both ends in the last frame only: read to the end, and still reported as the
    // early stop it formally is, with the same figures.
    let path = dir.join("both_last.mkv");
    depth_clip(&path, FFV1, |i| {
        if i == FRAMES - 1 {
            Ends::Both
        } else {
            Ends::Black
        }
    });
    let full = DepthScan::run(&path, false, ScanNeed::All).unwrap();
    let early = DepthScan::run(&path, false, ScanNeed::Range).unwrap();
    assert_eq!(early, as_stopped(&full, &early, FRAMES));
}

#[test]
fn a_long_clip_scanned_in_parts_stops_when_any_part_settles_the_range() {
    let dir = common::work_dir("scan_parts_stop");
    let path = dir.join("d.mkv");
    // Frame 17 of 30, inside the second of three parts.
    depth_clip(&path, FFV1, |i| {
        if i == 17 { Ends::Both } else { Ends::Neither }
    });
    let (full, _) = DepthScan::run_in_parts(&path, false, ScanNeed::All, 3, 0).unwrap();
    let (early, in_parts) = DepthScan::run_in_parts(&path, false, ScanNeed::Range, 3, 0).unwrap();
    assert!(
        !in_parts,
        "a scan that stopped early did not meet end to end"
    );
    // The other parts may have run to their ends before the second one settled it.
    assert!(!early.complete);
    assert_eq!(early, as_stopped(&full, &early, early.frames_read));
}

#[test]
fn a_cached_early_scan_answers_only_for_the_needs_it_settled() {
    let dir = common::work_dir("scan_cache_needs");
    let path = dir.join("d.mkv");
    depth_clip(
        &path,
        FFV1,
        |i| if i >= 2 { Ends::Both } else { Ends::Neither },
    );
    let cache = EstimateOptions {
        cache_dir: Some(dir.join("cache")),
        ..Default::default()
    };
    let early = DepthScan::run_cached(&path, false, ScanNeed::Range, &cache).unwrap();
    assert_eq!((early.complete, early.frames_read), (false, 3));
    // Marked, to tell a cache hit from a fresh scan.
    let entries: Vec<_> = std::fs::read_dir(dir.join("cache/scans"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(entries.len(), 1);
    let marked = DepthScan {
        frames_read: 999,
        ..early.clone()
    };
    std::fs::write(entries[0].path(), serde_json::to_string(&marked).unwrap()).unwrap();
    // Disparity's need is settled by it too.
    let hit = DepthScan::run_cached(&path, false, ScanNeed::Max, &cache).unwrap();
    assert_eq!(hit.frames_read, 999);
    // Metric depth reads every frame: scanned again, and the complete scan replaces it.
    let all = DepthScan::run_cached(&path, false, ScanNeed::All, &cache).unwrap();
    assert_eq!((all.complete, all.frames_read), (true, FRAMES));
    let again = DepthScan::run_cached(&path, false, ScanNeed::Range, &cache).unwrap();
    assert_eq!(again, all);
}

#[test]
fn the_packet_count_matches_the_decoded_frames() {
    use stereosplat::media::decode::{DecodeOptions, Decoder, PixelFormat};
    use stereosplat::media::packet_count::count_packets;
    let dir = common::work_dir("scan_packets");
    for (name, tail) in [("d.mkv", FFV1), ("d.mp4", H264_BFRAMES)] {
        let path = dir.join(name);
        depth_clip(&path, tail, |_| Ends::Neither);
        let count = count_packets(&path, None).unwrap().expect("timed packets");
        let mut dec = Decoder::open(&path, PixelFormat::Depth, &DecodeOptions::default()).unwrap();
        let mut end = 0;
        while let Some(f) = dec.next_frame().unwrap() {
            end = end.max(f.pts_nanos + f.duration_nanos.unwrap());
        }
        assert_eq!(count.frames, dec.frames_out(), "{name}");
        assert_eq!(count.duration_nanos(), end, "{name}");
    }
}
