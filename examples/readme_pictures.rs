//! Draws the README's pictures of the comfort settings into `assets/readme/`:
//!
//! `cargo run --release --example readme_pictures`
//!
//! - `curves.png`: every `--depth-curve` at its default parameter, and
//!   `--foreground-scale 2`, as shaped nearness against stored nearness;
//! - `letterbox.png`: the right eye of a windowboxed picture whose near side touches the
//!   left bar, without and with `--autocrop`;
//! - `floating.png`: a near card cut by the left edge, side by side, without and with
//!   `--floating-window`.
//!
//! The scenes are drawn here and rendered by the library, exactly as `stereosplat render`
//! renders them.

use std::path::{Path, PathBuf};

use gstreamer as gst;
use stereosplat::control::Cancel;
use stereosplat::gpu::{AdapterChoice, GpuContext};
use stereosplat::layout::{Autocrop, Layout};
use stereosplat::progress::Silent;
use stereosplat::render::{RenderJob, render};
use stereosplat::stereo::{DepthCurve, Shape};

type Rgba = Vec<u8>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    stereosplat::media::init()?;
    let out = PathBuf::from("assets/readme");
    std::fs::create_dir_all(&out)?;
    let scratch = std::env::temp_dir().join("stereosplat-readme-pictures");
    std::fs::create_dir_all(&scratch)?;
    let ctx = GpuContext::new(&AdapterChoice::Auto)?;

    let (w, h, plot) = curves();
    write_png(&out.join("curves.png"), (w, h), plot)?;

    // Letterbox: a 240x120 picture in 320x180, near on its left (0.95), far on its right.
    let (fw, fh) = (320u32, 180u32);
    let inside = |x: u32, y: u32| (40..280).contains(&x) && (30..150).contains(&y);
    let photo = scratch.join("boxed.png");
    write_png(
        &photo,
        (fw, fh),
        image(
            fw,
            fh,
            |x, y| {
                if inside(x, y) { texture(x, y) } else { [0; 3] }
            },
        ),
    )?;
    let depth = scratch.join("boxed_depth.png");
    write_depth(&depth, (fw, fh), |x, _| if x < 150 { 0.95 } else { 0.3 })?;
    let eye =
        |name: &str, autocrop: Option<Autocrop>| -> Result<Rgba, Box<dyn std::error::Error>> {
            let mut job = base_job(&photo, &depth, &scratch.join(name), Layout::Right);
            job.stereo.max_disparity_px = 14.0;
            job.autocrop = autocrop;
            render(&ctx, &job, &mut Silent, &Cancel::default())?;
            Ok(read_png(&scratch.join(name))?.0)
        };
    let (plain, kept) = (
        eye("plain.png", None)?,
        eye("kept.png", Some(Autocrop::Keep))?,
    );
    write_png(
        &out.join("letterbox.png"),
        (2 * fw + 8, fh),
        beside(&[(&plain, fw), (&kept, fw)], fh, 8),
    )?;

    // Floating window: a near card (nearness 1) cut by the left edge, a wall behind (0.2).
    let card = |x: u32, y: u32| x < 60 && (50..130).contains(&y);
    let photo = scratch.join("card.png");
    write_png(
        &photo,
        (fw, fh),
        image(fw, fh, |x, y| {
            if card(x, y) {
                [230, 200, 60]
            } else {
                texture(x, y)
            }
        }),
    )?;
    let depth = scratch.join("card_depth.png");
    write_depth(&depth, (fw, fh), |x, y| if card(x, y) { 1.0 } else { 0.2 })?;
    let sbs = |name: &str, floating: bool| -> Result<Rgba, Box<dyn std::error::Error>> {
        let mut job = base_job(&photo, &depth, &scratch.join(name), Layout::Sbs);
        job.floating_window = floating;
        render(&ctx, &job, &mut Silent, &Cancel::default())?;
        Ok(read_png(&scratch.join(name))?.0)
    };
    let (plain, floating) = (sbs("plain_sbs.png", false)?, sbs("floating.png", true)?);
    let gap = vec![255u8; (2 * fw * 8 * 4) as usize];
    let stacked = [plain, gap, floating].concat();
    write_png(&out.join("floating.png"), (2 * fw, 2 * fh + 8), stacked)?;
    println!("wrote {}/{{curves,letterbox,floating}}.png", out.display());
    Ok(())
}

/// The job `stereosplat render PHOTO --depth DEPTH -o OUT --layout LAYOUT` runs.
fn base_job(photo: &Path, depth: &Path, out: &Path, layout: Layout) -> RenderJob {
    let mut job = RenderJob {
        input: photo.into(),
        depth: Some(depth.into()),
        output: out.into(),
        layout,
        ..Default::default()
    };
    job.encode.layout = layout;
    job
}

/// A speckled, striped texture: every shift shows.
fn texture(x: u32, y: u32) -> [u8; 3] {
    let h = (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)).wrapping_mul(2_654_435_761);
    let stripe = if (x / 6).is_multiple_of(2) { 60 } else { 0 };
    [
        90 + stripe + (h >> 27) as u8,
        120 + (h >> 26) as u8,
        150 - stripe + (h >> 27) as u8,
    ]
}

fn image(w: u32, h: u32, colour: impl Fn(u32, u32) -> [u8; 3]) -> Rgba {
    (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .flat_map(|(x, y)| {
            let [r, g, b] = colour(x, y);
            [r, g, b, 255]
        })
        .collect()
}

/// Images of equal height side by side, `gap` white columns apart.
fn beside(parts: &[(&Rgba, u32)], h: u32, gap: u32) -> Rgba {
    let mut out = Vec::new();
    for y in 0..h as usize {
        for (i, (img, w)) in parts.iter().enumerate() {
            if i > 0 {
                out.extend(std::iter::repeat_n(255u8, gap as usize * 4));
            }
            let row = *w as usize * 4;
            out.extend_from_slice(&img[y * row..][..row]);
        }
    }
    out
}

/// Every curve as shaped nearness (up) against stored nearness (across), on white.
fn curves() -> (u32, u32, Rgba) {
    let (w, h, margin) = (480u32, 360u32, 30.0f32);
    let mut px = vec![255u8; (w * h * 4) as usize];
    let shapes = [
        (DepthCurve::Linear, 1.0, [0, 0, 0]),
        (
            DepthCurve::Gamma(DepthCurve::DEFAULT_GAMMA),
            1.0,
            [220, 40, 40],
        ),
        (
            DepthCurve::Inverse(DepthCurve::DEFAULT_INVERSE),
            1.0,
            [40, 80, 220],
        ),
        (
            DepthCurve::Sigmoid(DepthCurve::DEFAULT_SIGMOID),
            1.0,
            [30, 160, 60],
        ),
        (
            DepthCurve::Softplus(DepthCurve::DEFAULT_SOFTPLUS),
            1.0,
            [240, 140, 0],
        ),
        (DepthCurve::Linear, 2.0, [150, 60, 200]),
    ];
    let top = shapes
        .iter()
        .map(|&(curve, s, _)| {
            Shape {
                curve,
                foreground_scale: s,
            }
            .max()
        })
        .fold(1.0f32, f32::max);
    let (pw, ph) = (w as f32 - 2.0 * margin, h as f32 - 2.0 * margin);
    let at = |v: f32, s: f32| (margin + v * pw, h as f32 - margin - s / top * ph);
    let mut dot = |x: f32, y: f32, r: f32, c: [u8; 3]| {
        let (x0, y0) = ((x - r).floor() as i32, (y - r).floor() as i32);
        for yy in y0..=(y + r).ceil() as i32 {
            for xx in x0..=(x + r).ceil() as i32 {
                let d = ((xx as f32 - x).powi(2) + (yy as f32 - y).powi(2)).sqrt();
                if d <= r && xx >= 0 && yy >= 0 && (xx as u32) < w && (yy as u32) < h {
                    let i = ((yy as u32 * w + xx as u32) * 4) as usize;
                    px[i..i + 3].copy_from_slice(&c);
                }
            }
        }
    };
    // Axes, and grid lines at quarters.
    for k in 0..=4 {
        let t = k as f32 / 4.0;
        for i in 0..=400 {
            let u = i as f32 / 400.0;
            let grey = if k == 0 { [90; 3] } else { [225; 3] };
            let (x, y) = at(t, u * top);
            dot(x, y, 0.6, grey);
            let (x, y) = at(u, t * top);
            dot(x, y, 0.6, grey);
        }
    }
    for (curve, s, colour) in shapes {
        let shape = Shape {
            curve,
            foreground_scale: s,
        };
        for i in 0..=1200 {
            let v = i as f32 / 1200.0;
            // Foreground scale dashed, to tell it from the curves.
            if s != 1.0 && (i / 40) % 2 == 1 {
                continue;
            }
            let (x, y) = at(v, shape.apply(v));
            dot(x, y, 1.6, colour);
        }
    }
    (w, h, px)
}

fn write_png(
    path: &Path,
    (w, h): (u32, u32),
    rgba: Rgba,
) -> Result<(), Box<dyn std::error::Error>> {
    write_still(path, (w, h), "RGBA", rgba)
}

/// A 16-bit depth PNG of nearness `v(x, y)` in 0..1.
fn write_depth(
    path: &Path,
    (w, h): (u32, u32),
    v: impl Fn(u32, u32) -> f32,
) -> Result<(), Box<dyn std::error::Error>> {
    let bytes = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .flat_map(|(x, y)| ((v(x, y).clamp(0.0, 1.0) * 65535.0).round() as u16).to_be_bytes())
        .collect();
    write_still(path, (w, h), "GRAY16_BE", bytes)
}

fn write_still(
    path: &Path,
    (w, h): (u32, u32),
    format: &str,
    bytes: Vec<u8>,
) -> Result<(), Box<dyn std::error::Error>> {
    let caps = gst::Caps::builder("video/x-raw")
        .field("format", format)
        .field("width", w as i32)
        .field("height", h as i32)
        .field("framerate", gst::Fraction::new(0, 1))
        .build();
    let tail = format!("pngenc ! filesink location=\"{}\"", path.display());
    stereosplat::media::synth::write_frames(&caps, &tail, std::iter::once(bytes), 1)?;
    Ok(())
}

fn read_png(path: &Path) -> Result<(Rgba, (u32, u32)), Box<dyn std::error::Error>> {
    use stereosplat::media::decode::{DecodeOptions, Decoder, PixelFormat};
    let mut dec = Decoder::open(path, PixelFormat::Rgba, &DecodeOptions::default())?;
    let f = dec.next_frame()?.ok_or("an empty PNG")?;
    let (w, h, stride) = (f.width(), f.height(), f.stride_bytes() as usize);
    let rgba = (0..h as usize)
        .flat_map(|y| f.data()[y * stride..][..w as usize * 4].to_vec())
        .collect();
    Ok((rgba, (w, h)))
}
