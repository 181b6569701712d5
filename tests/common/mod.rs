//! Helpers shared by the integration tests: a GPU context on whatever adapter exists
//! (lavapipe on CI), readback of warp textures, and generated media.

#![allow(dead_code, reason = "each test binary uses only some of these helpers")]

use std::path::PathBuf;
use std::sync::OnceLock;

use stereosplat::gpu::{AdapterChoice, GpuContext};

/// One device per test binary: creating devices on lavapipe costs ~0.1 s each.
pub fn gpu() -> &'static GpuContext {
    static CTX: OnceLock<GpuContext> = OnceLock::new();
    CTX.get_or_init(|| {
        let _ = env_logger::builder().is_test(true).try_init();
        GpuContext::new(&AdapterChoice::Auto)
            .expect("a GPU adapter (install mesa-vulkan-drivers for lavapipe)")
    })
}

/// Reads back a warp view (rgba8unorm or rgba16float) as floats in 0..1.
pub fn view_pixels(ctx: &GpuContext, texture: &wgpu::Texture) -> Vec<[f32; 4]> {
    let bytes = stereosplat::gpu::read_texture(ctx, texture);
    match texture.format() {
        wgpu::TextureFormat::Rgba8Unorm => bytes
            .chunks_exact(4)
            .map(|p| std::array::from_fn(|i| f32::from(p[i]) / 255.0))
            .collect(),
        wgpu::TextureFormat::Rgba16Float => bytes
            .chunks_exact(8)
            .map(|p| {
                let c = |i: usize| half::f16::from_le_bytes([p[2 * i], p[2 * i + 1]]).to_f32();
                [c(0), c(1), c(2), c(3)]
            })
            .collect(),
        other => panic!("view_pixels: unexpected format {other:?}"),
    }
}

pub fn r32f(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|p| f32::from_le_bytes([p[0], p[1], p[2], p[3]]))
        .collect()
}

/// A fresh folder under target/ for one test's files (kept for inspection on failure).
pub fn work_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test folder");
    dir
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_stereosplat")
}

/// Runs `stereosplat ARGS`, which must succeed; returns its log (stderr).
pub fn run_ok(args: &[&str]) -> String {
    let out = std::process::Command::new(bin())
        .args(args)
        .env("XDG_RUNTIME_DIR", "/tmp/stereosplat-xdg")
        .output()
        .expect("run stereosplat");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "stereosplat {args:?} failed:\n{log}");
    log
}

/// An H.264 clip in Matroska with Vorbis audio, which MP4 cannot take as it is.
pub fn h264_with_vorbis(path: &std::path::Path, (w, h): (u32, u32), frames: u64) {
    stereosplat::media::synth::run_launch(&format!(
        "videotestsrc num-buffers={frames} ! video/x-raw,width={w},height={h},framerate=24/1 ! videoconvert ! \
         video/x-raw,format=I420 ! x264enc ! h264parse ! matroskamux name=m ! filesink location=\"{}\" \
         audiotestsrc num-buffers=20 ! audioconvert ! vorbisenc ! m.",
        path.display()
    ))
    .unwrap_or_else(|e| panic!("cannot make {}: {e}", path.display()));
}

/// Opens `path` with its audio and checks that the audio is AAC.
pub fn open_with_aac(path: &std::path::Path) -> stereosplat::media::decode::Decoder {
    use stereosplat::media::decode::{DecodeOptions, Decoder, PixelFormat};
    let dec = Decoder::open(
        path,
        PixelFormat::Rgba,
        &DecodeOptions {
            with_audio: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let caps = dec.audio_caps().expect("audio in the output");
    let s = caps.structure(0).unwrap();
    assert_eq!(s.name(), "audio/mpeg");
    assert_eq!(s.get::<i32>("mpegversion").unwrap(), 4, "AAC: {caps}");
    dec
}

/// Writes one image as PNG: `format` is a GStreamer raw format (`RGBA`, `GRAY8`,
/// `GRAY16_BE`) and `bytes` its tightly packed rows.
pub fn write_png(path: &std::path::Path, (w, h): (u32, u32), format: &str, bytes: Vec<u8>) {
    stereosplat::media::init().unwrap();
    // GStreamer's raw rows start at multiples of 4 bytes.
    let row = bytes.len() / h as usize;
    let stride = row.next_multiple_of(4);
    let bytes: Vec<u8> = bytes
        .chunks_exact(row)
        .flat_map(|r| {
            r.iter()
                .copied()
                .chain(std::iter::repeat_n(0, stride - row))
        })
        .collect();
    let caps = gstreamer::Caps::builder("video/x-raw")
        .field("format", format)
        .field("width", w as i32)
        .field("height", h as i32)
        .field("framerate", gstreamer::Fraction::new(0, 1))
        .build();
    stereosplat::media::synth::write_frames(
        &caps,
        &format!("pngenc ! filesink location=\"{}\"", path.display()),
        std::iter::once(bytes),
        1,
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// An image's RGBA pixels, tightly packed, and its size.
pub fn read_rgba(path: &std::path::Path) -> (Vec<u8>, u32, u32) {
    use stereosplat::media::decode::{DecodeOptions, Decoder, PixelFormat};
    let mut dec = Decoder::open(path, PixelFormat::Rgba, &DecodeOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let f = dec.next_frame().unwrap().expect("a frame");
    let (w, h, stride) = (f.width(), f.height(), f.stride_bytes() as usize);
    let mut out = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h as usize {
        out.extend_from_slice(&f.data()[y * stride..y * stride + 4 * w as usize]);
    }
    (out, w, h)
}

/// A photo-like texture: smooth colour gradients with fine noise, so that any shift or
/// blend of neighbouring columns shows.
pub fn texture_rgba((w, h): (u32, u32), seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 64) as i32 - 32
    };
    let mut out = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let r = (x * 255 / w.max(1)) as i32 + noise();
            let g = (y * 255 / h.max(1)) as i32 + noise();
            let b = (((x + 2 * y) * 7) % 256) as i32 + noise();
            out.extend([r, g, b].map(|c| c.clamp(0, 255) as u8));
            out.push(255);
        }
    }
    out
}

/// Writes RGBA frames losslessly: a PNG for one frame, FFV1 in MKV otherwise.
pub fn write_rgba(path: &std::path::Path, (w, h): (u32, u32), frames: Vec<Vec<u8>>, fps: i32) {
    stereosplat::media::init().unwrap();
    let still = path.extension().is_some_and(|e| e == "png");
    let caps = gstreamer::Caps::builder("video/x-raw")
        .field("format", "RGBA")
        .field("width", w as i32)
        .field("height", h as i32)
        .field(
            "framerate",
            gstreamer::Fraction::new(if still { 0 } else { fps }, 1),
        )
        .build();
    let tail = if still {
        format!("pngenc ! filesink location=\"{}\"", path.display())
    } else {
        format!(
            "videoconvert ! avenc_ffv1 ! matroskamux ! filesink location=\"{}\"",
            path.display()
        )
    };
    stereosplat::media::synth::write_frames(&caps, &tail, frames.into_iter(), fps.max(1) as u32)
        .unwrap();
}

/// Every frame of a grey depth file as 16-bit values, with its size.
pub fn read_gray16(path: &std::path::Path) -> (Vec<Vec<u16>>, (u32, u32)) {
    let mut dec = stereosplat::media::decode::Decoder::open(
        path,
        stereosplat::media::decode::PixelFormat::Gray16,
        &stereosplat::media::decode::DecodeOptions::default(),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut size = (0, 0);
    while let Some(f) = dec.next_frame().unwrap() {
        size = (f.width(), f.height());
        let stride = f.stride_bytes() as usize;
        let d = f.data();
        let mut v = Vec::with_capacity((size.0 * size.1) as usize);
        for y in 0..size.1 as usize {
            for x in 0..size.0 as usize {
                let o = y * stride + 2 * x;
                v.push(u16::from_le_bytes([d[o], d[o + 1]]));
            }
        }
        out.push(v);
    }
    (out, size)
}

pub mod http;

/// Writes 16-bit grey frames (depth) losslessly: FFV1 in MKV.
pub fn write_gray16_video(
    path: &std::path::Path,
    (w, h): (u32, u32),
    frames: Vec<Vec<u16>>,
    fps: i32,
) {
    stereosplat::media::init().unwrap();
    let caps = gstreamer::Caps::builder("video/x-raw")
        .field("format", "GRAY16_LE")
        .field("width", w as i32)
        .field("height", h as i32)
        .field("framerate", gstreamer::Fraction::new(fps, 1))
        .build();
    // GStreamer's raw rows start at multiples of 4 bytes.
    let stride = (w as usize * 2).next_multiple_of(4);
    let frames = frames.into_iter().map(move |f| {
        f.chunks_exact(w as usize)
            .flat_map(|row| {
                let mut bytes: Vec<u8> = row.iter().flat_map(|v| v.to_le_bytes()).collect();
                bytes.resize(stride, 0);
                bytes
            })
            .collect::<Vec<u8>>()
    });
    stereosplat::media::synth::write_frames(
        &caps,
        &format!(
            "avenc_ffv1 ! matroskamux ! filesink location=\"{}\"",
            path.display()
        ),
        frames,
        fps as u32,
    )
    .unwrap();
}
