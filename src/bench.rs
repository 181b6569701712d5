//! `stereosplat bench`: warp + compose time per frame at 1080p and 4K on the adapter in
//! use, then, for a generated 1080p clip, end-to-end fps next to a decode+encode-only
//! GStreamer pipeline with the same encoder settings, and peak memory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use gst::prelude::*;
use gstreamer as gst;

use crate::cli::BenchArgs;
use crate::control::Cancel;
use crate::depth::estimate::EstimateOptions;
use crate::frame::YuvMatrix;
use crate::gpu::{Composer, GpuContext, PassTimer, Warper, YuvPacker};
use crate::layout::{Anaglyph, Layout, WarpResolution};
use crate::media;
use crate::media::MediaError;
use crate::media::encode::{EncodeSettings, EncoderElement};
use crate::progress::Silent;
use crate::render::{RenderJob, render};
use crate::stereo::{DepthRange, StereoParams};

/// Why the bench could not measure.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Decoder(#[from] crate::media::decode::DecoderChoiceError),
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
    #[error(transparent)]
    Readback(#[from] crate::gpu::ReadbackError),
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    #[error("the GPU did not finish the timed passes: {0}")]
    Poll(#[from] wgpu::PollError),
    #[error("{context}: {source}")]
    Media {
        context: &'static str,
        source: MediaError,
    },
    #[error("cannot create the bench folder: {0}")]
    Io(#[from] std::io::Error),
}

impl From<MediaError> for BenchError {
    fn from(source: MediaError) -> Self {
        BenchError::Media {
            context: "the decode+encode baseline",
            source,
        }
    }
}

impl From<gst::glib::Error> for BenchError {
    fn from(e: gst::glib::Error) -> Self {
        BenchError::from(MediaError::Other(e.to_string()))
    }
}

impl From<gst::glib::BoolError> for BenchError {
    fn from(e: gst::glib::BoolError) -> Self {
        BenchError::from(MediaError::Other(e.to_string()))
    }
}

pub fn run(args: &BenchArgs) -> Result<(), BenchError> {
    // The end-to-end part's codecs, checked before minutes of warp timings.
    let chosen = if args.warp_only {
        None
    } else {
        args.decoder.apply()?;
        Some(args.encoder.resolve(8).map_err(BenchError::Invalid)?)
    };
    let ctx = GpuContext::new(&args.gpu.adapter)?;
    println!("adapter: {}", ctx.describe());
    for (size, resolution) in [
        ((1920, 1080), WarpResolution::Output),
        ((1920, 1080), WarpResolution::Input),
        ((3840, 2160), WarpResolution::Output),
        ((3840, 2160), WarpResolution::Input),
    ] {
        let timing = warp_ms(&ctx, &args.gpu.shaders(), size, resolution, args.iterations)?;
        println!(
            "warp+compose {}x{} half-sbs, warp at {} size: {:.2} ms/frame ({:.1} fps)",
            size.0,
            size.1,
            match resolution {
                WarpResolution::Output => "output",
                WarpResolution::Input => "input",
            },
            timing.ms,
            1000.0 / timing.ms
        );
        if !timing.passes.is_empty() {
            println!("  GPU time per pass (ms): {}", timing.pass_summary());
        }
    }
    for size in [(1920, 1080), (3840, 2160)] {
        let (wall, cpu) = cpu_warp_ms(size, args.iterations);
        let (_, convert) = cpu_convert_ms(size, args.iterations);
        println!(
            "CPU warp (--warp-device cpu) {}x{} half-sbs from I420: {wall:.2} ms/frame ({:.1} fps), {cpu:.1} ms of CPU time per frame ({convert:.1} of them converting to half-width RGBA)",
            size.0,
            size.1,
            1000.0 / wall
        );
    }
    // None: --warp-only.
    let Some(chosen) = chosen else {
        return Ok(());
    };
    let tmp;
    let dir: PathBuf = match &args.work_dir {
        Some(d) => d.clone(),
        None => {
            tmp = std::env::temp_dir().join(format!("stereosplat-bench-{}", std::process::id()));
            tmp.clone()
        }
    };
    std::fs::create_dir_all(&dir)?;
    let sizes = if args.e2e_sizes.is_empty() {
        vec![(1920, 1080)]
    } else {
        args.e2e_sizes.clone()
    };
    let result = sizes
        .into_iter()
        .try_for_each(|size| end_to_end(&ctx, args, size, chosen, &dir));
    if args.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// Renders a generated clip of `size` to half-SBS with its pre-rendered depth, then runs
/// the decode+encode-only baseline on it with the same encoder element and settings, and
/// prints both.
fn end_to_end(
    ctx: &GpuContext,
    args: &BenchArgs,
    size: (u32, u32),
    encoder: EncoderElement,
    dir: &Path,
) -> Result<(), BenchError> {
    let (w, h) = size;
    let clip = dir.join(format!("bench{w}x{h}.mp4"));
    let depth = dir.join(format!("bench{w}x{h}_depth.mp4"));
    let generating = |context| move |source| BenchError::Media { context, source };
    crate::media::synth::colour_clip(&clip, size, args.frames, 30, true)
        .map_err(generating("generating the bench clip"))?;
    crate::media::synth::depth_clip(&depth, size, args.frames, 30)
        .map_err(generating("generating the bench depth"))?;
    let settings = EncodeSettings {
        layout: Layout::HalfSbs,
        encoder: args.encoder,
        ..Default::default()
    };

    let job = RenderJob {
        input: clip.clone(),
        output: dir.join(format!("stereo{w}x{h}.mp4")),
        depth: Some(depth),
        stereo: StereoParams::default(),
        layout: Layout::HalfSbs,
        anaglyph: Anaglyph::Dubois,
        encode: settings.clone(),
        shaders: args.gpu.shaders(),
        warp_device: args.warp_device,
        // Every run scans the depth clip, as a first render of a clip does.
        estimate: EstimateOptions {
            no_cache: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let on_cpu = job.warps_on_cpu(ctx.is_software())?;
    // Render and baseline alternate, so that a slow spell of the machine weighs on both
    // sides of a ratio; the run with the median ratio is reported.
    let mut runs = Vec::new();
    for run in 0..args.e2e_runs.max(1) {
        if run == 0 {
            // The warp timings above allocated 4K frames; measure the render's own peak.
            reset_peak_rss();
        }
        let report = render(ctx, &job, &mut Silent, &Cancel::default())?;
        if run == 0
            && let Some(kib) = peak_rss_kib()
        {
            println!(
                "peak memory of the render (VmHWM): {:.0} MiB",
                kib as f64 / 1024.0
            );
        }
        let t = Instant::now();
        baseline(
            &clip,
            &dir.join(format!("baseline{w}x{h}.mp4")),
            encoder,
            &settings,
        )?;
        runs.push((report, t.elapsed().as_secs_f64()));
    }
    let ratio = |(report, base_s): &(crate::render::RenderReport, f64)| report.seconds / base_s;
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| ratio(&runs[a]).total_cmp(&ratio(&runs[b])));
    let (report, base_s) = &runs[order[order.len() / 2]];

    let n = report.frames as f64;
    let codec = format!(
        "{encoder}, {} {}",
        if encoder.factory == "x264enc" {
            format!("{} crf", settings.speed_preset)
        } else {
            "quality".to_owned()
        },
        settings.crf
    );
    println!(
        "end to end {w}x{h} half-sbs, warp on the {}, {} frames, {codec}: {:.2} fps ({:.1} s)",
        if on_cpu { "CPU" } else { "GPU" },
        report.frames,
        n / report.seconds,
        report.seconds
    );
    println!("time in the render loop: {}", report.stages);
    println!(
        "CPU time per frame by stage: {}",
        report.cpu.per_frame(report.frames)
    );
    println!(
        "decode+encode only (same clip, same encoder and settings): {:.2} fps ({:.1} s); ratio {:.2}x",
        n / base_s,
        base_s,
        report.seconds / base_s
    );
    if runs.len() > 1 {
        let each: Vec<String> = runs
            .iter()
            .map(|r| format!("{:.2}/{:.2} s {:.2}x", r.0.seconds, r.1, ratio(r)))
            .collect();
        println!(
            "runs (render/baseline, alternated; the median is shown above): {}",
            each.join(", ")
        );
    }
    Ok(())
}

/// Wall time per frame of the warp and compose, and GPU time per pass.
pub struct WarpTiming {
    /// Milliseconds per frame, submit to finish, passes untimed.
    pub ms: f64,
    /// Milliseconds per pass (mean over the iterations) from timestamp queries; empty when
    /// the adapter has none.
    pub passes: Vec<(&'static str, f64)>,
}

impl WarpTiming {
    /// "depth_prep 12.1, splat 30.2, ..." (ms).
    pub fn pass_summary(&self) -> String {
        self.passes
            .iter()
            .map(|(name, ms)| format!("{name} {ms:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Depth prep + warp + fill + half-SBS compose + conversion to I420 at `size`, with
/// full-size 16-bit depth, GPU work only (no upload, no readback). The wall time comes from untimed frames; a
/// second round with timestamp queries splits it by pass.
pub fn warp_ms(
    ctx: &GpuContext,
    shaders: &crate::gpu::ShaderSet,
    size: (u32, u32),
    resolution: WarpResolution,
    iterations: u32,
) -> Result<WarpTiming, BenchError> {
    let mut warper = Warper::new(ctx, shaders)?;
    let mut composer = Composer::new(ctx, shaders)?;
    let stereo = StereoParams::default();
    let work = resolution.work_size(Layout::HalfSbs, size.0, size.1);
    warper.prepare_at(ctx, size, size, stereo.eye, work);
    composer.prepare(ctx, &warper, Layout::HalfSbs, Anaglyph::Dubois, true)?;
    // The encoder's I420, as a video render makes it.
    let mut yuv = YuvPacker::new(ctx, shaders)?;
    yuv.prepare(
        ctx,
        composer.output_view(),
        composer.output_size(),
        composer.output_generation(),
        YuvMatrix::for_height(size.1),
    );
    let (rgba, depth) = bench_inputs(size);
    warper.upload_color(&ctx.queue, &rgba, size.0 * 4);
    warper.upload_depth(&ctx.queue, &depth, size.0 * 2);
    let one = |timer: &mut PassTimer| {
        timer.begin();
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        warper.encode_timed(&ctx.queue, &mut enc, &stereo, &DepthRange::default(), timer);
        composer.encode_timed(&ctx.queue, &mut enc, timer);
        yuv.encode(&mut enc, timer);
        timer.resolve(&mut enc);
        ctx.queue.submit([enc.finish()]);
        ctx.device.poll(wgpu::PollType::wait_indefinitely())
    };
    let mut untimed = PassTimer::disabled();
    for _ in 0..3 {
        one(&mut untimed)?;
    }
    let t = Instant::now();
    for _ in 0..iterations {
        one(&mut untimed)?;
    }
    let ms = t.elapsed().as_secs_f64() * 1000.0 / f64::from(iterations);
    ctx.check_errors()?;

    let mut timer = PassTimer::new(ctx);
    let mut passes: Vec<(&'static str, f64)> = Vec::new();
    if timer.method() != "off" {
        for _ in 0..iterations {
            one(&mut timer)?;
            let frame = timer.read(ctx)?;
            if passes.is_empty() {
                passes = frame.iter().map(|&(n, _)| (n, 0.0)).collect();
            }
            for (sum, (_, ms)) in passes.iter_mut().zip(frame) {
                sum.1 += ms / f64::from(iterations);
            }
        }
    }
    Ok(WarpTiming { ms, passes })
}

/// The synthetic frame and 16-bit depth both warp benches use: texture everywhere and a
/// depth ramp with row-wise steps, so every pass has work.
fn bench_inputs(size: (u32, u32)) -> (Vec<u8>, Vec<u8>) {
    let (w, h) = (size.0 as usize, size.1 as usize);
    let rgba: Vec<u8> = (0..w * h * 4).map(|i| (i * 7 % 251) as u8).collect();
    let depth: Vec<u8> = (0..w * h)
        .flat_map(|i| (((i % w) * 65535 / w) as u16 ^ ((i / w % 64) as u16 * 97)).to_le_bytes())
        .collect();
    (rgba, depth)
}

/// CPU time of this process so far (all threads), in seconds.
fn process_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// The bench frame as a decoder gives it: I420 planes of [`bench_inputs`]' colours
/// (luma from green, chroma from red and blue, each 2x2 block's top-left pixel).
fn bench_i420(size: (u32, u32), rgba: &[u8]) -> [Vec<u8>; 3] {
    let (w, h) = (size.0 as usize, size.1 as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let y = (0..w * h).map(|i| rgba[i * 4 + 1]).collect();
    let chroma = |c: usize| {
        (0..cw * ch)
            .map(|i| rgba[((i / cw) * 2 * w + (i % cw) * 2) * 4 + c])
            .collect()
    };
    [y, chroma(0), chroma(2)]
}

fn i420_pixels(size: (u32, u32), planes: &[Vec<u8>; 3]) -> crate::frame::FramePixels<'_> {
    let cw = size.0.div_ceil(2);
    crate::frame::FramePixels::I420 {
        planes: [(&planes[0], size.0), (&planes[1], cw), (&planes[2], cw)],
        colours: crate::frame::YuvColours {
            matrix: YuvMatrix::for_height(size.1),
            full_range: false,
        },
    }
}

/// Runs `one` once to warm up, then `iterations` times: (wall ms, CPU ms) per run.
fn time_per_run(iterations: u32, mut one: impl FnMut() -> usize) -> (f64, f64) {
    one();
    let (t, cpu) = (Instant::now(), process_cpu_secs());
    for _ in 0..iterations {
        std::hint::black_box(one());
    }
    let n = f64::from(iterations);
    (
        t.elapsed().as_secs_f64() * 1000.0 / n,
        (process_cpu_secs() - cpu) * 1000.0 / n,
    )
}

/// The half-SBS CPU warp's conversion of a decoded I420 frame to half-width RGBA alone:
/// (wall ms, CPU ms).
pub fn cpu_convert_ms(size: (u32, u32), iterations: u32) -> (f64, f64) {
    let (rgba, _) = bench_inputs(size);
    let planes = bench_i420(size, &rgba);
    let pixels = i420_pixels(size, &planes);
    let mut out = vec![0u8; (size.0 / 2 * size.1 * 4) as usize];
    let pool = crate::cpu::workers();
    time_per_run(iterations, || {
        crate::cpu::yuv_to_rgba_halved(&pixels, size, &mut out, pool);
        out.len()
    })
}

/// [`warp_ms`]'s work on the CPU warp (`--warp-device cpu`), from a decoded I420 frame as
/// in a render: conversion to RGBA, depth prep, warp, fill, half-SBS compose and I420 for
/// the encoder. Returns (wall ms, CPU ms) per frame.
pub fn cpu_warp_ms(size: (u32, u32), iterations: u32) -> (f64, f64) {
    let stereo = StereoParams::default();
    let range = DepthRange::default();
    let work = WarpResolution::Output.work_size(Layout::HalfSbs, size.0, size.1);
    let mut warper = crate::cpu::CpuWarper::new(size, size, stereo.eye, work);
    let (out, _) = Layout::HalfSbs.frame_sizes(size, true);
    let mut composer = crate::cpu::CpuComposer::new(
        Layout::HalfSbs,
        Anaglyph::Dubois,
        size,
        work,
        true,
        crate::media::encode::FrameInput::I420(YuvMatrix::for_height(out.1)),
    );
    let (rgba, depth) = bench_inputs(size);
    let planes = bench_i420(size, &rgba);
    let pixels = i420_pixels(size, &planes);
    let params = crate::stereo::frame_params(&stereo, &range, size, work, size);
    let one = || {
        warper.warp(
            &pixels,
            crate::cpu::RawDepth {
                data: &depth,
                stride: size.0 as usize * 2,
                size,
                format: crate::cpu::DepthFormat::Gray16,
            },
            &params,
        );
        composer.compose(&warper, &pixels).len()
    };
    time_per_run(iterations, one)
}

/// A lower bound of the bytes the default warp (right eye, background fill) and the
/// half-SBS compose read and write for one frame, counting each texture or buffer access
/// of each pass once. Per warp pixel: depth prep 2 (16-bit depth) + 4 (nearness); splat
/// 8 (two nearness reads) + 4 (z-buffer atomic); resolve 4 (key) + 4 (nearness) + 4
/// (colour) + 4 + 4 (warped colour and nearness); row and column fills 4 + 4 + 4 each;
/// fill resolve 4 x 6. A warp smaller than the frame first averages it down (4 + 4 per
/// warp pixel, plus the frame's 4 per pixel read). Compose: both eyes 2 x 4 + 4 (output)
/// per output pixel; the I420 conversion reads 4 and writes 1.5 per output pixel. Real
/// traffic is higher (caches, neighbour taps), so bytes/s computed with it understate the
/// bandwidth used.
pub fn warp_bytes(frame: (u32, u32), work: (u32, u32)) -> f64 {
    let px = |s: (u32, u32)| f64::from(s.0) * f64::from(s.1);
    let per_work_pixel = 6.0 + 12.0 + 20.0 + 24.0 + 24.0;
    let resample = if work == frame {
        0.0
    } else {
        8.0 * px(work) + 4.0 * px(frame)
    };
    per_work_pixel * px(work) + resample + (12.0 + 5.5) * px(frame)
}

/// Decode + encode with the same encoder element and settings and no stereo work: the
/// floor to compare with.
fn baseline(
    input: &Path,
    output: &Path,
    chosen: EncoderElement,
    settings: &EncodeSettings,
) -> Result<(), BenchError> {
    media::init()?;
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert name=convert",
        input.display()
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| MediaError::Other("the baseline is not a pipeline".into()))?;
    let convert = pipeline
        .by_name("convert")
        .ok_or_else(|| MediaError::Other("the baseline has no videoconvert".into()))?;
    let [format, encoder, parse] = crate::media::encode::encoder_branch(chosen, settings)?;
    let mux = media::make("mp4mux")?;
    let sink = media::make("filesink")?;
    sink.set_property("location", output);
    let tail = [&format, &encoder, &parse, &mux, &sink];
    pipeline.add_many(tail)?;
    media::link_many(&[&convert, &format, &encoder, &parse, &mux, &sink])?;
    crate::media::synth::play_to_end(pipeline.upcast_ref())?;
    Ok(())
}

/// Resets VmHWM to the current resident size (Linux: writing 5 to clear_refs).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory of this process (Linux), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
