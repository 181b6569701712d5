//! The `stereosplat` binary: parses the command line and reports errors; the work is in
//! the library (see src/lib.rs).

use std::process::ExitCode;

use stereosplat::cli::{Cli, Command};
use stereosplat::control::{Cancel, Stopped};
use stereosplat::gpu::GpuContext;

fn main() -> ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    private_runtime_dir();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    // wgpu and naga are chatty at info; keep their warnings.
    env_logger::Builder::from_env(
        env_logger::Env::default()
            .default_filter_or(format!("{level},wgpu_core=warn,wgpu_hal=warn,naga=warn")),
    )
    .format_timestamp(None)
    .format_target(false)
    .init();

    // Over a file-size limit (ulimit -f, quotas) the kernel would kill us mid-write with
    // SIGXFSZ, leaving the temporary file behind. Ignored, the write fails with EFBIG and
    // the encoder cleans up and reports it like a full disk.
    // SAFETY: setting a signal to SIG_IGN at start-up, before any thread exists.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let cancel = Cancel::default();
    install_ctrl_c(&cancel);
    match run(cli, &matches, &cancel) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<Stopped>().is_some() || cancel.is_interrupted() => {
            eprintln!("{e:#}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// First Ctrl-C: finish the frame in hand, close the file properly and keep it as
/// `<name>.partial.<ext>`. Second: remove what is being written and stop at once.
fn install_ctrl_c(cancel: &Cancel) {
    let cancel = cancel.clone();
    let result = ctrlc::set_handler(move || {
        if cancel.is_interrupted() {
            for tmp in stereosplat::media::encode::live_temp_files()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
            {
                let _ = std::fs::remove_file(tmp);
            }
            eprintln!("\nstopped; the unfinished output was removed");
            std::process::exit(130);
        }
        eprintln!(
            "\nstopping after the current frame and keeping what is done (Ctrl-C again to stop at once)"
        );
        cancel.interrupt();
    });
    if let Err(e) = result {
        log::warn!("Ctrl-C will stop the program without keeping partial output: {e}");
    }
}

/// Applies `--preset FILE` to `job`, except the settings typed on the command line.
fn apply_preset(
    options: &stereosplat::cli::RenderOptions,
    job: &mut stereosplat::render::RenderJob,
    typed: impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    if let Some(path) = &options.preset {
        stereosplat::preset::Preset::load(path)?.apply(job, &typed);
        // A typed --convergence is in the unit of the depth kind in use, which the preset
        // may have set: it goes to that kind's own quantity.
        if let Some(v) = options.stereo.convergence {
            use stereosplat::stereo::DepthKind;
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

fn run(cli: Cli, matches: &clap::ArgMatches, cancel: &Cancel) -> anyhow::Result<()> {
    // Whether flag `id` of subcommand `sub` was typed (not a default).
    let typed = |sub: &'static str| {
        move |id: &str| {
            matches.subcommand_matches(sub).is_some_and(|m| {
                m.ids().any(|i| i.as_str() == id)
                    && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
            })
        }
    };
    match cli.command {
        Command::Render(args) => {
            let mut job = args.job();
            apply_preset(&args.options, &mut job, typed("render"))?;
            stereosplat::cli::check_kind_flags(job.depth_kind, &typed("render"))?;
            args.options.decoder.apply()?;
            // Cheap checks first: a typo in a flag should not wait for GPU start-up.
            job.validate()?;
            stereosplat::media::decode::check_input_file(&job.input)?;
            let ctx = GpuContext::new(&args.options.gpu.adapter)?;
            let mut progress = stereosplat::progress::for_terminal(cli.quiet);
            let report = stereosplat::render::render(&ctx, &job, progress.as_mut(), cancel)?;
            log::info!(
                "wrote {} ({} frames, {}x{}{}) in {:.1} s, {:.1} fps, peak memory {} MiB",
                report.output.display(),
                report.frames,
                report.size.0,
                report.size.1,
                if report.audio { ", with audio" } else { "" },
                report.seconds,
                report.frames as f64 / report.seconds.max(1e-9),
                stereosplat::bench::peak_rss_kib().unwrap_or(0) / 1024
            );
            log::info!("time in the render loop: {}", report.stages);
            log::info!(
                "CPU time per frame: {}",
                report.cpu.per_frame(report.frames)
            );
            Ok(())
        }
        Command::Batch(args) => {
            let mut batch = args.job();
            apply_preset(&args.options, &mut batch.template, typed("batch"))?;
            stereosplat::cli::check_kind_flags(batch.template.depth_kind, &typed("batch"))?;
            args.options.decoder.apply()?;
            batch.template.validate_settings()?;
            let ctx = GpuContext::new(&args.options.gpu.adapter)?;
            let quiet = cli.quiet;
            let results = batch.run(
                &ctx,
                &mut || stereosplat::progress::for_terminal(quiet),
                cancel,
            )?;
            print!("{}", stereosplat::batch::summary_table(&results));
            let failed = results
                .iter()
                .filter(|r| matches!(r.outcome, stereosplat::batch::Outcome::Failed { .. }))
                .count();
            if cancel.is_interrupted() {
                anyhow::bail!("interrupted; run the same command with --resume to go on");
            }
            if failed > 0 {
                anyhow::bail!("{failed} file(s) failed (see the table above)");
            }
            Ok(())
        }
        Command::Bench(args) => stereosplat::bench::run(&args),
        Command::Preview(args) => {
            let mut job = args.options.template();
            apply_preset(&args.options, &mut job, typed("preview"))?;
            stereosplat::cli::check_kind_flags(job.depth_kind, &typed("preview"))?;
            args.options.decoder.apply()?;
            job.depth = args.depth.clone();
            if let Some(input) = &args.input {
                job.input = input.clone();
            }
            stereosplat::preview::run(
                job,
                &args.options.gpu.adapter,
                stereosplat::preview::Options {
                    play: args.play,
                    exit_after_frames: args.exit_after_frames,
                    measure_latency: args.measure_latency,
                    preset_path: args.options.preset.clone(),
                },
            )
        }
        Command::MakeSample { dir, frames } => {
            std::fs::create_dir_all(&dir)?;
            stereosplat::media::synth::write_sample(&dir, (480, 270), frames, 24)?;
            log::info!(
                "wrote {0}/sample.mp4 and {0}/sample_depth.mkv",
                dir.display()
            );
            Ok(())
        }
        Command::Depth(args) => {
            let opts = args.model.options(args.depth_kind, args.gpu.shaders());
            stereosplat::depth::estimate::validate(&opts)?;
            stereosplat::media::decode::check_input_file(&args.input)?;
            {
                // The paired depth is not read here (this command makes depth), so
                // `depth clip.mp4 -o clip_depth.mkv` may replace an older export.
                use stereosplat::fsutil::{Named, check_outputs};
                let mut read = vec![Named::new("the input", &args.input)];
                read.extend(opts.model.as_ref().map(|m| Named::new("--depth-model", m)));
                check_outputs(&read, &[Named::new("the output", &args.output)])?;
            }
            let ctx = GpuContext::new(&args.gpu.adapter)?;
            let mut progress = stereosplat::progress::for_terminal(cli.quiet);
            stereosplat::depth::estimate::export(
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
        Command::Adapters { ort_lib } => {
            for line in stereosplat::gpu::list_adapters() {
                println!("{line}");
            }
            use stereosplat::depth::ort_runtime;
            match ort_runtime::runtime(ort_lib.as_deref()) {
                Ok(rt) => println!(
                    "ONNX Runtime {}: providers {}",
                    rt.path.display(),
                    ort_runtime::available_providers().join(", ")
                ),
                Err(e) => println!("ONNX Runtime: {e}"),
            }
            Ok(())
        }
    }
}

/// Vulkan's window-system layer complains on every start when XDG_RUNTIME_DIR is unset
/// (headless servers, CI); give it a private directory instead.
fn private_runtime_dir() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("stereosplat-runtime-{}", current_uid()));
    if std::fs::create_dir_all(&dir).is_ok()
        && std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).is_ok()
    {
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}
