//! `warp-bench`: the GPU warp and compose timing alone, in a binary that needs neither
//! GStreamer nor ONNX Runtime at run time (only a Vulkan/Metal/DX12 driver), so GPU figures
//! can be taken on machines that have no media stack.
//!
//!     warp-bench [--adapter auto|hardware|software|N|NAME] [--iterations N] [--cpu-only] [WxH ...]
//!
//! `--cpu-only` times only the CPU warp (`--warp-device cpu`) and needs no GPU at all.

use stereosplat::bench::{cpu_convert_ms, cpu_warp_ms, warp_bytes, warp_ms};
use stereosplat::gpu::{AdapterChoice, GpuContext, ShaderSet};
use stereosplat::layout::{Layout, WarpResolution};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut adapter = AdapterChoice::Auto;
    let mut iterations = 20u32;
    let mut sizes = Vec::new();
    let mut cpu_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--adapter" => adapter = args.next().unwrap_or_default().parse()?,
            "--iterations" => {
                iterations = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| anyhow::anyhow!("--iterations needs a number > 0"))?
            }
            "--cpu-only" => cpu_only = true,
            "-h" | "--help" => {
                println!(
                    "warp-bench [--adapter A] [--iterations N] [--cpu-only] [WxH ...]  (default 1920x1080 3840x2160)"
                );
                return Ok(());
            }
            size => {
                let (w, h) = size
                    .split_once('x')
                    .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
                    .filter(|&(w, h)| w > 0 && h > 0)
                    .ok_or_else(|| anyhow::anyhow!("{size}: expected a size like 1920x1080"))?;
                sizes.push((w, h));
            }
        }
    }
    if sizes.is_empty() {
        sizes = vec![(1920, 1080), (3840, 2160)];
    }
    let ctx = if cpu_only {
        None
    } else {
        let ctx = GpuContext::new(&adapter)?;
        println!("adapter: {}", ctx.describe());
        Some(ctx)
    };
    for (w, h) in sizes {
        if let Some(ctx) = &ctx {
            gpu_figures(ctx, (w, h), iterations)?;
        }
        let (wall, cpu) = cpu_warp_ms((w, h), iterations);
        let (_, convert) = cpu_convert_ms((w, h), iterations);
        println!(
            "CPU warp (--warp-device cpu) {w}x{h} half-sbs from I420: {wall:.3} ms/frame ({:.1} fps), {cpu:.1} ms of CPU time per frame ({convert:.1} of them converting to half-width RGBA)",
            1000.0 / wall
        );
    }
    Ok(())
}

/// The GPU warp's figures for frames of `(w, h)`: at the output size and at the input size.
fn gpu_figures(ctx: &GpuContext, (w, h): (u32, u32), iterations: u32) -> anyhow::Result<()> {
    ctx.check_frame_fits((w, h), (w, h), (w, h))?;
    for resolution in [WarpResolution::Output, WarpResolution::Input] {
        let work = resolution.work_size(Layout::HalfSbs, w, h);
        let timing = warp_ms(ctx, &ShaderSet::Embedded, (w, h), resolution, iterations)?;
        let ms = timing.ms;
        let bytes = warp_bytes((w, h), work);
        println!(
            "warp+compose {w}x{h} half-sbs, warp at {}x{}: {ms:.3} ms/frame ({:.1} fps), at least {:.2} GB/s moved ({:.0} MB/frame lower bound)",
            work.0,
            work.1,
            1000.0 / ms,
            bytes / (ms / 1000.0) / 1e9,
            bytes / 1e6
        );
        if timing.passes.is_empty() {
            println!("  (no per-pass times: the adapter has no timestamp queries)");
        } else {
            println!("  GPU time per pass (ms): {}", timing.pass_summary());
        }
    }
    Ok(())
}
