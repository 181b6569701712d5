//! `--layout vr180` (issue #24): each eye an equirectangular 180-degree square with the
//! picture on it as a flat screen; the MP4's spherical metadata (st3d, sv3d) read back by
//! a box parser, and the Matroska Projection element by an EBML one; the eyes' centres show the picture's centre; the GPU and CPU composers
//! agree.

mod common;

use std::path::Path;
use std::process::Command;

fn stereosplat(args: &[&str]) -> (bool, String) {
    let o = Command::new(common::bin()).args(args).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The child boxes of `bytes` (a box's body): (type, body).
fn children(bytes: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = bytes[at + 4..at + 8].try_into().unwrap();
        assert!(
            size >= 8 && at + size <= bytes.len(),
            "box {kind:?} does not fit"
        );
        out.push((kind, &bytes[at + 8..at + size]));
        at += size;
    }
    out
}

fn child<'a>(bytes: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(bytes)
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, b)| b)
}

/// The video sample entry's child boxes, following moov/trak/mdia/minf/stbl/stsd.
fn video_entry_children(file: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let moov = child(file, b"moov").expect("moov");
    for (kind, trak) in children(moov) {
        if &kind != b"trak" {
            continue;
        }
        let stsd = child(trak, b"mdia")
            .and_then(|b| child(b, b"minf"))
            .and_then(|b| child(b, b"stbl"))
            .and_then(|b| child(b, b"stsd"))
            .expect("a sample table");
        // Full box and entry count, then the entries.
        for (kind, entry) in children(&stsd[8..]) {
            if &kind == b"avc1" {
                // The visual sample entry's fixed fields take 78 bytes before its boxes.
                return children(&entry[78..])
                    .into_iter()
                    .map(|(k, b)| (k, b.to_vec()))
                    .collect();
            }
        }
    }
    panic!("no avc1 sample entry");
}

#[test]
fn vr180_places_the_picture_on_the_hemisphere_and_says_so_in_the_file() {
    let (w, h) = (160u32, 90u32);
    let dir = common::work_dir("vr180");
    // A textured picture with a flat block of colour at its centre, and flat depth.
    let frames: Vec<Vec<u8>> = (0..6)
        .map(|_| {
            let mut f = common::texture_rgba((w, h), 21);
            for y in h / 2 - 8..h / 2 + 8 {
                for x in w / 2 - 8..w / 2 + 8 {
                    let i = ((y * w + x) * 4) as usize;
                    f[i..i + 3].copy_from_slice(&[200, 40, 90]);
                }
            }
            f
        })
        .collect();
    let clip = dir.join("clip.mkv");
    common::write_rgba(&clip, (w, h), frames, 24);
    common::write_png(
        &dir.join("clip_depth.png"),
        (w, h),
        "GRAY16_BE",
        vec![0x80; (w * h * 2) as usize],
    );
    let out = dir.join("vr.mp4");
    let (ok, log) = stereosplat(&[
        "render",
        clip.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--layout",
        "vr180",
        "--crf",
        "0",
        "--name-tags",
    ]);
    assert!(ok, "{log}");
    let out = dir.join("vr_VR180_180x180_3dh_LR.mp4");
    let bytes = std::fs::read(&out).unwrap();
    let boxes = video_entry_children(&bytes);
    let find = |k: &[u8; 4]| {
        boxes
            .iter()
            .find(|(kind, _)| kind == k)
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| panic!("no {} box", String::from_utf8_lossy(k)))
    };
    let st3d = find(b"st3d");
    assert_eq!(st3d, [0, 0, 0, 0, 2], "st3d: version 0, left-right");
    let sv3d = find(b"sv3d");
    let proj = child(&sv3d, b"proj").expect("proj in sv3d");
    assert!(child(&sv3d, b"svhd").is_some());
    assert_eq!(child(proj, b"prhd").unwrap(), &[0u8; 16][..], "no rotation");
    let equi = child(proj, b"equi").expect("equi in proj");
    let bound = |i: usize| u32::from_be_bytes(equi[4 + 4 * i..8 + 4 * i].try_into().unwrap());
    assert_eq!(
        [bound(0), bound(1), bound(2), bound(3)],
        [0, 0, 0x4000_0000, 0x4000_0000],
        "top, bottom, left, right: the front 180 degrees"
    );

    // Two squares as wide as the input; each centre shows the picture's centre.
    let (frames, size) = {
        use stereosplat::media::decode::{DecodeOptions, Decoder, PixelFormat};
        let mut dec = Decoder::open(&out, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
        let f = dec.next_frame().unwrap().unwrap();
        let stride = f.stride_bytes() as usize;
        let rows: Vec<u8> = (0..f.height() as usize)
            .flat_map(|y| f.data()[y * stride..][..f.width() as usize * 4].to_vec())
            .collect();
        (rows, (f.width(), f.height()))
    };
    assert_eq!(size, (2 * w, w));
    for eye in 0..2 {
        let (x, y) = (eye * w + w / 2, w / 2);
        let i = ((y * size.0 + x) * 4) as usize;
        let got = &frames[i..i + 3];
        for (c, want) in got.iter().zip([200u8, 40, 90]) {
            assert!(c.abs_diff(want) <= 4, "eye {eye} centre {got:?}");
        }
        // The corners look behind the screen: black.
        let corner = ((2 * size.0 + eye * w + 2) * 4) as usize;
        assert!(
            frames[corner..corner + 3].iter().all(|&v| v < 20),
            "eye {eye} corner"
        );
    }

    // The GPU's and the CPU's compose agree.
    let still = |device: &str| {
        let png = dir.join(format!("vr_{device}.png"));
        let (ok, log) = stereosplat(&[
            "render",
            clip.to_str().unwrap(),
            "-o",
            png.to_str().unwrap(),
            "--layout",
            "vr180",
            "--vr-screen-fov",
            "80",
            "--warp-device",
            device,
        ]);
        assert!(ok, "{log}");
        common::read_rgba(Path::new(&png)).0
    };
    let (gpu, cpu) = (still("gpu"), still("cpu"));
    let worst = gpu
        .iter()
        .zip(&cpu)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(worst <= 2, "GPU and CPU VR180 differ by {worst}");
    // Matroska: the Projection element (and StereoMode) in the video track, read back
    // by an EBML parser, with the file still whole: every frame decodes, and a seek
    // through the moved Cues lands where it should.
    let mkv = dir.join("vr.mkv");
    let (ok, log) = stereosplat(&[
        "render",
        clip.to_str().unwrap(),
        "-o",
        mkv.to_str().unwrap(),
        "--layout",
        "vr180",
    ]);
    assert!(ok, "{log}");
    assert!(!log.contains("could not write the VR180 metadata"), "{log}");
    let bytes = std::fs::read(&mkv).unwrap();
    let (kind, private) = stereosplat::media::mkv_projection::read_projection(&bytes)
        .unwrap()
        .expect("a Projection element");
    assert_eq!(kind, 1, "equirectangular");
    let bound = |i: usize| u32::from_be_bytes(private[4 + 4 * i..8 + 4 * i].try_into().unwrap());
    assert_eq!(
        [bound(0), bound(1), bound(2), bound(3)],
        [0, 0, 0x4000_0000, 0x4000_0000]
    );
    let mode = stereosplat::media::stereo_tags::find_stereo_mode(&bytes).expect("StereoMode");
    assert_eq!(bytes[mode], 1, "side by side, left first");
    {
        use stereosplat::media::decode::{DecodeOptions, Decoder, PixelFormat};
        let mut dec = Decoder::open(&mkv, PixelFormat::Rgba, &DecodeOptions::default()).unwrap();
        let mut n = 0;
        while dec.next_frame().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 6);
        let opts = DecodeOptions {
            start_nanos: 125_000_000,
            ..Default::default()
        };
        let mut dec = Decoder::open(&mkv, PixelFormat::Rgba, &opts).unwrap();
        let f = dec.next_frame().unwrap().unwrap();
        assert_eq!(
            f.pts_nanos.div_ceil(1_000_000),
            125,
            "the seek lands on frame 3"
        );
    }
    let (ok, log) = stereosplat(&[
        "render",
        clip.to_str().unwrap(),
        "-o",
        "x.mp4",
        "--layout",
        "vr180",
        "--vr-screen-fov",
        "200",
    ]);
    assert!(
        !ok && log.contains("--vr-screen-fov is the picture's width"),
        "{log}"
    );
}
