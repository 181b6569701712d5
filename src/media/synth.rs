//! Generated media for tests, the bench and the README's sample: colour clips from
//! videotestsrc (with a tone from audiotestsrc) and depth clips whose values are known.

use std::path::Path;

use gst::prelude::*;
use gstreamer as gst;

use crate::media::{self, MediaError};

/// Runs a gst-launch style description to EOS.
pub fn run_launch(description: &str) -> Result<(), MediaError> {
    media::init()?;
    let pipeline = gst::parse::launch(description)
        .map_err(|e| MediaError::Other(format!("{description}: {e}")))?;
    play_to_end(&pipeline)
}

/// Plays `pipeline` until EOS (or the first error) and stops it.
pub fn play_to_end(pipeline: &gst::Element) -> Result<(), MediaError> {
    if pipeline.set_state(gst::State::Playing).is_err() {
        let err = pipeline
            .bus()
            .and_then(|bus| media::poll_bus(&bus).err())
            .unwrap_or_else(|| MediaError::Other("the pipeline refused to start".into()));
        let _ = pipeline.set_state(gst::State::Null);
        return Err(err);
    }
    finish(pipeline)
}

/// Waits for EOS (or the first error) and stops the pipeline.
fn finish(pipeline: &gst::Element) -> Result<(), MediaError> {
    let bus = pipeline.bus().expect("bus");
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::NONE,
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    let _ = pipeline.set_state(gst::State::Null);
    match msg.as_ref().and_then(media::bus_error) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn q(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

/// H.264 colour clip (SMPTE bars with a moving ball), optionally with a sine tone in AAC.
pub fn colour_clip(
    path: &Path,
    (w, h): (u32, u32),
    frames: u64,
    fps: u32,
    audio: bool,
) -> Result<(), MediaError> {
    let mux = if path.extension().is_some_and(|e| e == "mkv") {
        "matroskamux"
    } else {
        "mp4mux"
    };
    let mut d = format!(
        "videotestsrc num-buffers={frames} pattern=smpte horizontal-speed=2 ! \
         video/x-raw,width={w},height={h},framerate={fps}/1 ! videoconvert ! video/x-raw,format=I420 ! \
         x264enc speed-preset=ultrafast key-int-max=30 ! h264parse ! {mux} name=mux ! filesink location={}",
        q(path)
    );
    if audio {
        let samples = 48000 * frames / u64::from(fps);
        d.push_str(&format!(
            " audiotestsrc num-buffers={} samplesperbuffer=1024 freq=440 ! audio/x-raw,rate=48000,channels=2 ! \
             audioconvert ! {} ! aacparse ! mux.",
            samples.div_ceil(1024),
            media::aac_encoder()?
        ));
    }
    run_launch(&d)
}

/// 8-bit grey depth clip (lossless H.264 where libav is there): a moving ball (near) over
/// a vertical gradient.
pub fn depth_clip(
    path: &Path,
    (w, h): (u32, u32),
    frames: u64,
    fps: u32,
) -> Result<(), MediaError> {
    let mux = if path.extension().is_some_and(|e| e == "mkv") {
        "matroskamux"
    } else {
        "mp4mux"
    };
    // Lossless H.264 is the High 4:4:4 profile, which only libav decodes; without it
    // (openh264 decodes up to High) the clip is near-lossless instead: values within a
    // step or two, which timing runs do not mind.
    media::init()?;
    let quantizer = if media::has_element("avdec_h264") {
        0
    } else {
        log::info!(
            "{}: no libav here, so near-lossless (quantizer 1) instead of lossless",
            path.display()
        );
        1
    };
    run_launch(&format!(
        "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,width={w},height={h},framerate={fps}/1 ! \
         videoconvert ! video/x-raw,format=I420 ! \
         x264enc speed-preset=ultrafast pass=quant quantizer={quantizer} ! h264parse ! {mux} ! filesink location={}",
        q(path)
    ))
}

/// A small ray-cast scene: a checkered floor, a striped back wall and three textured
/// spheres (one moving), seen by a pinhole camera. It gives colour, exact metric depth,
/// and the view from any camera shifted sideways — the ground truth for stereo tests.
#[derive(Clone, Copy, Debug)]
pub struct Scene {
    /// Animation time in seconds (the blue sphere moves).
    pub time: f32,
}

/// Pinhole camera at (x, 0, 0) looking down -z, y up.
#[derive(Clone, Copy, Debug)]
pub struct Camera {
    pub width: u32,
    pub height: u32,
    /// Focal length in pixels.
    pub fx: f32,
    /// Sideways position in metres (a right eye sits at +baseline).
    pub x: f32,
}

impl Camera {
    /// Camera with the given horizontal field of view in degrees.
    pub fn with_fov(width: u32, height: u32, xfov_deg: f32) -> Self {
        let fx = width as f32 / (2.0 * (xfov_deg.to_radians() / 2.0).tan());
        Self {
            width,
            height,
            fx,
            x: 0.0,
        }
    }
}

/// Nearest depth the scene can have; nearness = NEAREST_M / z fills 0..1.
pub const NEAREST_M: f32 = 1.0;

struct Hit {
    t: f32,
    colour: [f32; 3],
    normal: [f32; 3],
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn checker(u: f32, v: f32) -> bool {
    (u.floor() as i64 + v.floor() as i64) % 2 == 0
}

/// One of the scene's surfaces, for checking geometry against it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Surface {
    /// The floor, y = -1.
    Floor,
    /// The back wall, z = -9.
    Wall,
    Sphere {
        centre: [f32; 3],
        radius: f32,
    },
}

impl Surface {
    /// Distance in metres from `p` (the camera's axes: x right, y up, looking down -z)
    /// to this surface.
    pub fn distance(&self, p: [f32; 3]) -> f32 {
        match *self {
            Surface::Floor => (p[1] + 1.0).abs(),
            Surface::Wall => (p[2] + 9.0).abs(),
            Surface::Sphere { centre, radius } => {
                let d = [p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]];
                (dot(d, d).sqrt() - radius).abs()
            }
        }
    }
}

impl Scene {
    /// Every surface of the scene at this time, for a camera at the origin.
    pub fn surfaces(&self) -> Vec<Surface> {
        let mut all = vec![Surface::Floor, Surface::Wall];
        all.extend(
            self.spheres()
                .iter()
                .map(|&(centre, radius, _)| Surface::Sphere { centre, radius }),
        );
        all
    }

    fn spheres(&self) -> [([f32; 3], f32, u8); 3] {
        [
            ([-1.3, -0.35, -4.5], 0.65, 0),
            ([0.9 + 0.5 * (self.time * 1.5).sin(), -0.1, -3.2], 0.5, 1),
            ([0.15, -0.65, -2.3], 0.35, 2),
        ]
    }

    fn trace(&self, o: [f32; 3], d: [f32; 3]) -> Option<Hit> {
        let mut best: Option<Hit> = None;
        let mut take = |h: Hit| {
            if h.t > 1e-4 && best.as_ref().is_none_or(|b| h.t < b.t) {
                best = Some(h);
            }
        };
        // Floor y = -1: 0.5 m checker, warm and cool greys.
        if d[1] < 0.0 {
            let t = (-1.0 - o[1]) / d[1];
            let p = [o[0] + t * d[0], -1.0, o[2] + t * d[2]];
            let c = if checker(p[0] * 2.0, p[2] * 2.0) {
                [0.85, 0.8, 0.7]
            } else {
                [0.25, 0.3, 0.35]
            };
            take(Hit {
                t,
                colour: c,
                normal: [0.0, 1.0, 0.0],
            });
        }
        // Back wall z = -9: vertical stripes with a finer horizontal weave.
        if d[2] < 0.0 {
            let t = (-9.0 - o[2]) / d[2];
            let p = [o[0] + t * d[0], o[1] + t * d[1], -9.0];
            let stripe = (p[0] * 3.0).rem_euclid(1.0) < 0.5;
            let weave = 0.08 * ((p[1] * 23.0).sin() + (p[0] * 17.0).cos());
            let c = if stripe {
                [0.55 + weave, 0.2, 0.25]
            } else {
                [0.9, 0.75 + weave, 0.35]
            };
            take(Hit {
                t,
                colour: c,
                normal: [0.0, 0.0, 1.0],
            });
        }
        for (centre, r, kind) in self.spheres() {
            let oc = [o[0] - centre[0], o[1] - centre[1], o[2] - centre[2]];
            let b = dot(oc, d);
            let c = dot(oc, oc) - r * r;
            let disc = b * b - c;
            if disc < 0.0 {
                continue;
            }
            let t = -b - disc.sqrt();
            let p = [o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]];
            let n = [
                (p[0] - centre[0]) / r,
                (p[1] - centre[1]) / r,
                (p[2] - centre[2]) / r,
            ];
            let (u, v) = (n[0].atan2(n[2]) * 3.0, n[1].asin() * 3.0);
            let colour = match kind {
                0 => {
                    if checker(u * 1.5, v * 1.5) {
                        [0.9, 0.15, 0.1]
                    } else {
                        [0.95, 0.95, 0.9]
                    }
                }
                1 => {
                    if checker(u * 2.0, v * 2.0) {
                        [0.1, 0.3, 0.9]
                    } else {
                        [0.6, 0.85, 1.0]
                    }
                }
                _ => [0.2 + 0.3 * (v * 4.0).sin().abs(), 0.75, 0.25],
            };
            take(Hit {
                t,
                colour,
                normal: n,
            });
        }
        best
    }

    /// Renders RGBA8 colour and metric depth z (metres along the view axis).
    pub fn render(&self, cam: &Camera) -> (Vec<u8>, Vec<f32>) {
        let (w, h) = (cam.width as usize, cam.height as usize);
        let mut rgba = Vec::with_capacity(w * h * 4);
        let mut depth = Vec::with_capacity(w * h);
        let light = {
            let l = [0.4f32, 0.8, 0.45];
            let n = dot(l, l).sqrt();
            [l[0] / n, l[1] / n, l[2] / n]
        };
        let (cx, cy) = (cam.width as f32 / 2.0, cam.height as f32 / 2.0);
        for y in 0..h {
            for x in 0..w {
                // Pixel centres; the image plane is at z = -1 in units of fx.
                let dir = [
                    (x as f32 + 0.5 - cx) / cam.fx,
                    (cy - y as f32 - 0.5) / cam.fx,
                    -1.0,
                ];
                let len = dot(dir, dir).sqrt();
                let d = [dir[0] / len, dir[1] / len, dir[2] / len];
                match self.trace([cam.x, 0.0, 0.0], d) {
                    Some(hit) => {
                        let shade = 0.35 + 0.65 * dot(hit.normal, light).max(0.0);
                        for c in hit.colour {
                            rgba.push(((c * shade).clamp(0.0, 1.0) * 255.0).round() as u8);
                        }
                        rgba.push(255);
                        depth.push(hit.t * d[2].abs());
                    }
                    None => {
                        rgba.extend_from_slice(&[0, 0, 0, 255]);
                        depth.push(f32::INFINITY);
                    }
                }
            }
        }
        (rgba, depth)
    }
}

/// Metric depth -> 16-bit inverse depth (near = bright), as depth models and the batch
/// processor's depth videos store it.
pub fn nearness16(depth_m: &[f32]) -> Vec<u16> {
    depth_m
        .iter()
        .map(|z| ((NEAREST_M / z).clamp(0.0, 1.0) * 65535.0).round() as u16)
        .collect()
}

/// Writes frames through `appsrc name=src ! <tail>` (a gst-launch description), one
/// every 1/`fps` s.
pub fn write_frames(
    caps: &gst::Caps,
    tail: &str,
    frames: impl Iterator<Item = Vec<u8>>,
    fps: u32,
) -> Result<(), MediaError> {
    let mut writer = super::raw_writer::RawWriter::open(tail, caps)?;
    writer.start()?;
    let frame = gst::ClockTime::SECOND
        .mul_div_floor(1, u64::from(fps))
        .expect("fps > 0")
        .nseconds();
    for (i, data) in frames.enumerate() {
        writer.push(data, frame * i as u64, Some(frame))?;
    }
    writer.finish()
}

/// The README's sample: `<dir>/sample.mp4` (H.264 + AAC tone) and
/// `<dir>/sample_depth.mkv` (16-bit inverse depth, FFV1) of the ray-cast scene.
pub fn write_sample(
    dir: &Path,
    (w, h): (u32, u32),
    frames: u64,
    fps: u32,
) -> Result<(), MediaError> {
    use gstreamer_video as gst_video;
    media::init()?;
    let cam = Camera::with_fov(w, h, 60.0);
    let scene = |i: u64| Scene {
        time: i as f32 / fps as f32,
    };
    let video = |fmt| {
        gst_video::VideoInfo::builder(fmt, w, h)
            .fps(gst::Fraction::new(fps as i32, 1))
            .build()
            .expect("valid video info")
            .to_caps()
            .expect("caps")
    };
    let colour = dir.join("sample.mp4");
    let samples = 48000 * frames / u64::from(fps);
    write_frames(
        &video(gst_video::VideoFormat::Rgba),
        &format!(
            "videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=slow pass=qual quantizer=20 ! h264parse ! \
             mp4mux name=mux ! filesink location={} \
             audiotestsrc wave=ticks freq=660 num-buffers={} samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 ! \
             audioconvert ! {} ! aacparse ! mux.",
            q(&colour),
            samples.div_ceil(1024),
            media::aac_encoder()?
        ),
        (0..frames).map(|i| scene(i).render(&cam).0),
        fps,
    )?;
    let depth = dir.join("sample_depth.mkv");
    write_frames(
        &video(gst_video::VideoFormat::Gray16Le),
        &format!("avenc_ffv1 ! matroskamux ! filesink location={}", q(&depth)),
        (0..frames).map(|i| {
            let (_, z) = scene(i).render(&cam);
            nearness16(&z)
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect()
        }),
        fps,
    )
}
