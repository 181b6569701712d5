//! Running a parsed command line: one function per subcommand. This is the command-line
//! edge, where library errors meet `anyhow` and become the message the user reads.

use super::{
    BatchArgs, Cli, Command, DepthArgs, ModelsArgs, ModelsCommand, PreviewArgs, RenderArgs,
    RenderOptions, check_kind_flags,
};
use crate::control::Cancel;
use crate::fsutil::{Named, check_outputs};
use crate::gpu::GpuContext;
use crate::render::RenderJob;
use crate::render::chunks;
use crate::stereo::DepthKind;

/// Applies `--preset FILE` to `job`, except the settings typed on the command line.
fn apply_preset(
    options: &RenderOptions,
    job: &mut RenderJob,
    typed: &dyn Fn(&str) -> bool,
) -> anyhow::Result<()> {
    if let Some(path) = &options.preset {
        crate::preset::Preset::load(path)?.apply(job, typed);
        // A typed --convergence is in the unit of the depth kind in use, which the preset
        // may have set: it goes to that kind's own quantity.
        if let Some(v) = options.stereo.convergence_value() {
            match job.depth_kind {
                DepthKind::Relative => job.stereo.convergence = v,
                DepthKind::Disparity => job.stereo.convergence_px = v,
                DepthKind::Metric => {}
            }
        }
        log::info!("settings from preset {}", path.display());
    }
    Ok(())
}

/// Runs one parsed command line. `matches` tells typed flags from defaults.
pub fn run(cli: Cli, matches: &clap::ArgMatches, cancel: &Cancel) -> anyhow::Result<()> {
    // Whether flag `id` of subcommand `sub` was typed (not a default).
    let typed = |sub: &'static str| {
        move |id: &str| {
            matches.subcommand_matches(sub).is_some_and(|m| {
                m.ids().any(|i| i.as_str() == id)
                    && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
            })
        }
    };
    let quiet = cli.quiet;
    match cli.command {
        Command::Render(args) => render(&args, &typed("render"), quiet, cancel),
        Command::Batch(args) => batch(&args, &typed("batch"), quiet, cancel),
        Command::Bench(args) => Ok(crate::bench::run(&args)?),
        Command::Preview(args) => preview(&args, &typed("preview")),
        Command::MakeSample { dir, frames } => {
            std::fs::create_dir_all(&dir)?;
            crate::media::synth::write_sample(&dir, (480, 270), frames, 24)?;
            log::info!(
                "wrote {0}/sample.mp4 and {0}/sample_depth.mkv",
                dir.display()
            );
            Ok(())
        }
        Command::Depth(args) => depth(&args, quiet, cancel),
        Command::Join { output, report } => {
            let dir = chunks::manifest::folder(&output);
            let joined = chunks::join_folder(&dir, report.as_deref())?;
            if joined.output.is_none() {
                anyhow::bail!(
                    "another process is joining the pieces in {}; it writes {}",
                    dir.display(),
                    output.display()
                );
            }
            Ok(())
        }
        Command::Models(command) => models(&command, quiet),
        Command::Adapters { ort_lib } => {
            adapters(ort_lib.as_deref());
            Ok(())
        }
    }
}

fn render(
    args: &RenderArgs,
    typed: &dyn Fn(&str) -> bool,
    quiet: bool,
    cancel: &Cancel,
) -> anyhow::Result<()> {
    let mut job = args.job();
    apply_preset(&args.options, &mut job, typed)?;
    check_kind_flags(job.depth_kind, job.auto_convergence, typed)?;
    args.options.decoder.apply()?;
    // Cheap checks first: a typo in a flag should not wait for GPU start-up.
    job.validate()?;
    crate::media::decode::check_input_file(&job.input)?;
    let ctx = GpuContext::new(&args.options.gpu.adapter)?;
    let mut progress = crate::progress::for_terminal(quiet);
    let report = match chunks::render_auto(&ctx, &job, progress.as_mut(), cancel)? {
        chunks::Outcome::Whole(report) => report,
        chunks::Outcome::Chunked(c) => {
            if let Some(out) = &c.output {
                log::info!(
                    "wrote {} ({} frames, {}x{}{}) in {:.1} s: {} piece(s) rendered now, {} \
                     reused, joined in {:.1} s; peak memory {} MiB",
                    out.display(),
                    c.frames_total,
                    c.size.0,
                    c.size.1,
                    if c.audio { ", with audio" } else { "" },
                    c.seconds,
                    c.rendered,
                    c.reused,
                    c.join_seconds,
                    crate::bench::peak_rss_kib().unwrap_or(0) / 1024
                );
            }
            return Ok(());
        }
    };
    log::info!(
        "wrote {} ({} frames, {}x{}{}) in {:.1} s, {:.1} fps, peak memory {} MiB",
        report.output.display(),
        report.frames,
        report.size.0,
        report.size.1,
        if report.audio { ", with audio" } else { "" },
        report.seconds,
        report.frames as f64 / report.seconds.max(1e-9),
        crate::bench::peak_rss_kib().unwrap_or(0) / 1024
    );
    log::info!("time in the render loop: {}", report.stages);
    log::info!(
        "CPU time per frame: {}",
        report.cpu.per_frame(report.frames)
    );
    Ok(())
}

fn batch(
    args: &BatchArgs,
    typed: &dyn Fn(&str) -> bool,
    quiet: bool,
    cancel: &Cancel,
) -> anyhow::Result<()> {
    let mut batch = args.job();
    apply_preset(&args.options, &mut batch.template, typed)?;
    check_kind_flags(
        batch.template.depth_kind,
        batch.template.auto_convergence,
        typed,
    )?;
    args.options.decoder.apply()?;
    batch.template.validate_settings()?;
    let ctx = GpuContext::new(&args.options.gpu.adapter)?;
    let results = batch.run(&ctx, &mut || crate::progress::for_terminal(quiet), cancel)?;
    print!("{}", crate::batch::summary_table(&results));
    let failed = results
        .iter()
        .filter(|r| matches!(r.outcome, crate::batch::Outcome::Failed { .. }))
        .count();
    if cancel.is_interrupted() {
        anyhow::bail!("interrupted; run the same command with --resume to go on");
    }
    if failed > 0 {
        anyhow::bail!("{failed} file(s) failed (see the table above)");
    }
    Ok(())
}

fn preview(args: &PreviewArgs, typed: &dyn Fn(&str) -> bool) -> anyhow::Result<()> {
    let mut job = args.options.template();
    apply_preset(&args.options, &mut job, typed)?;
    check_kind_flags(job.depth_kind, job.auto_convergence, typed)?;
    args.options.decoder.apply()?;
    job.depth = args.depth.clone();
    if let Some(input) = &args.input {
        job.input = input.clone();
    }
    crate::preview::run(
        job,
        &args.options.gpu.adapter,
        crate::preview::Options {
            play: args.play,
            exit_after_frames: args.exit_after_frames,
            measure_latency: args.measure_latency,
            preset_path: args.options.preset.clone(),
        },
    )?;
    Ok(())
}

fn depth(args: &DepthArgs, quiet: bool, cancel: &Cancel) -> anyhow::Result<()> {
    if args.format.is_geometry() {
        return geometry(args, quiet, cancel);
    }
    let g = &args.geometry;
    if g.depth.is_some()
        || g.xfov.is_some()
        || g.yfov.is_some()
        || g.edge_threshold.is_some()
        || g.ascii
        || g.grid_step != 1
        || g.start != 0.0
        || g.depth_scale.is_some()
        || g.depth_rgb
        || g.depth_far_bright
    {
        anyhow::bail!(
            "--depth, --xfov, --yfov, --edge-threshold, --grid-step, --ascii, --start and the \
             depth file's flags are for --format ply or obj (depth as geometry); a depth video \
             export estimates from the start and takes none of them"
        );
    }
    let opts = args.model.options(args.depth_kind, args.gpu.shaders());
    crate::depth::estimate::validate(&opts)?;
    crate::media::decode::check_input_file(&args.input)?;
    // The paired depth is not read here (this command makes depth), so
    // `depth clip.mp4 -o clip_depth.mkv` may replace an older export.
    let mut read = vec![Named::new("the input", &args.input)];
    read.extend(opts.model.as_ref().map(|m| Named::new("--depth-model", m)));
    check_outputs(&read, &[Named::new("the output", &args.output)])?;
    let ctx = GpuContext::new(&args.gpu.adapter)?;
    let mut progress = crate::progress::for_terminal(quiet);
    crate::depth::estimate::export(
        &ctx,
        &args.input,
        &opts,
        args.frames,
        &args.output,
        args.format,
        args.max_depth,
        progress.as_mut(),
        cancel,
    )?;
    Ok(())
}

/// `depth --format ply|obj`: each frame as points or a mesh, files in a folder.
fn geometry(args: &DepthArgs, quiet: bool, cancel: &Cancel) -> anyhow::Result<()> {
    use crate::view3d::export::GeometryFormat;
    let g = &args.geometry;
    let dir = &args.output;
    if dir.is_file() {
        anyhow::bail!(
            "-o {}: --format {} writes one file per frame into a folder, and this is a file; \
             give a folder (it is created when missing)",
            dir.display(),
            crate::cli::value_name(&args.format)
        );
    }
    crate::media::decode::check_input_file(&args.input)?;
    let format = match args.format {
        crate::depth::estimate::ExportFormat::Obj => GeometryFormat::Obj,
        _ => GeometryFormat::Ply { ascii: g.ascii },
    };
    if g.ascii && format == GeometryFormat::Obj {
        anyhow::bail!("--ascii is for --format ply (OBJ is always text)");
    }
    let job = crate::render::RenderJob {
        input: args.input.clone(),
        // Never written: the plan takes its frames as a video output's.
        output: dir.join("geometry.mkv"),
        depth: g.depth.clone(),
        depth_far_is_bright: g.depth_far_bright,
        depth_kind: args.depth_kind,
        depth_scale: g.depth_scale,
        depth_rgb: g.depth_rgb,
        max_depth_m: args.max_depth,
        xfov_deg: g.xfov,
        yfov_deg: g.yfov,
        stereo: crate::stereo::StereoParams {
            edge_threshold: g.edge_threshold.unwrap_or(crate::stereo::NO_EDGE_THRESHOLD),
            ..Default::default()
        },
        layout: crate::layout::Layout::Left,
        frames: args.frames,
        start_secs: g.start,
        audio: false,
        shaders: args.gpu.shaders(),
        estimate: args.model.options(args.depth_kind, args.gpu.shaders()),
        warp_device: crate::render::WarpDevice::Cpu,
        ..Default::default()
    };
    let ctx = GpuContext::new(&args.gpu.adapter)?;
    let mut progress = crate::progress::for_terminal(quiet);
    let report = crate::render::export_geometry(
        &ctx,
        &job,
        format,
        g.grid_step,
        dir,
        progress.as_mut(),
        cancel,
    )?;
    log::info!(
        "wrote {} {} file(s) into {} (the last: {} points, {} triangles)",
        report.files.len(),
        format.extension(),
        dir.display(),
        report.points,
        report.triangles
    );
    Ok(())
}

fn adapters(ort_lib: Option<&std::path::Path>) {
    for line in crate::gpu::list_adapters() {
        println!("{line}");
    }
    use crate::onnx::runtime;
    match runtime::runtime(ort_lib) {
        Ok(rt) => println!(
            "ONNX Runtime {}: providers {}",
            rt.path.display(),
            runtime::available_providers().join(", ")
        ),
        Err(e) => println!("ONNX Runtime: {e}"),
    }
}

fn models(command: &ModelsCommand, quiet: bool) -> anyhow::Result<()> {
    let store =
        |args: &ModelsArgs| crate::models::Store::open(&args.store.options(args.cache_dir.clone()));
    match command {
        ModelsCommand::List(args) => {
            let store = store(args)?;
            print!("{}", model_list(&store));
            println!("models folder: {}", store.dir().display());
        }
        ModelsCommand::Get { name, args } => {
            let store = store(args)?;
            let entry = match name {
                Some(n) => store.entry(n)?,
                None => store
                    .catalog()
                    .default_for(crate::models::Task::Depth)
                    .ok_or_else(|| anyhow::anyhow!("the catalog has no depth model"))?,
            };
            let was_there = store.is_installed(entry);
            let mut progress = crate::progress::transfer_for_terminal(quiet);
            let path = store.get(entry, progress.as_mut())?;
            if was_there {
                log::info!("{} is already downloaded", entry.name);
            }
            println!("{}", path.display());
        }
        ModelsCommand::Path { name, args } => {
            let store = store(args)?;
            let entry = store.entry(name)?;
            println!("{}", store.path_of(entry).display());
            if !store.is_installed(entry) {
                log::info!(
                    "{name} is not downloaded yet: `stereosplat models get {name}` fetches it"
                );
            }
        }
    }
    Ok(())
}

/// The catalog as a table: one block per model.
fn model_list(store: &crate::models::Store) -> String {
    use crate::models::{Output, Task};
    let mut out = String::new();
    for e in store.catalog().entries() {
        let what = match (e.task, e.output) {
            (Task::Depth, Some(Output::Metric)) => "depth, metric (metres)",
            (Task::Depth, _) => "depth, relative",
            (Task::Inpaint, _) => "inpainting",
        };
        let size = e.size.map_or("size unknown".into(), |s| {
            format!("{:.0} MB", s as f64 / 1e6)
        });
        out.push_str(&format!(
            "{}{}  [{}]\n  {what}; {}{}; {size}{}\n  input: {}\n  source: {}\n",
            e.name,
            if e.default { " (default)" } else { "" },
            if store.is_installed(e) {
                "downloaded"
            } else {
                "not downloaded"
            },
            e.licence,
            if e.non_commercial {
                ", non-commercial use only"
            } else {
                ""
            },
            if e.verified() {
                ""
            } else {
                "; unverified (no published checksum)"
            },
            e.input,
            e.source,
        ));
    }
    out
}
